import polars as pl
import pytest

from ml_pipeline.data.validator import TRANSACTIONS_SCHEMA, DataValidationError, validate_schema
from tests.unit.ml_pipeline.frames import transactions


def test_valid_frame_passes_with_a_report():
    report = validate_schema(transactions([("a", 0, 1.0)]), TRANSACTIONS_SCHEMA, "t")
    assert report["passed"] and report["rows"] == 1


def test_missing_columns_are_all_named():
    frame = transactions([("a", 0, 1.0)]).drop("amount", "region")
    with pytest.raises(DataValidationError, match="snap: missing column.*amount, region"):
        validate_schema(frame, TRANSACTIONS_SCHEMA, "snap")


def test_wrong_type_names_column_and_expected_type():
    frame = transactions([("a", 0, 1.0)]).with_columns(pl.col("amount").cast(pl.String))
    with pytest.raises(DataValidationError, match="amount is String, expected Float64"):
        validate_schema(frame, TRANSACTIONS_SCHEMA, "snap")


def test_empty_frame_is_rejected():
    with pytest.raises(DataValidationError, match="no rows"):
        validate_schema(transactions([("a", 0, 1.0)]).head(0), TRANSACTIONS_SCHEMA, "snap")
