import pytest

from ml_pipeline.data.validator import DataValidationError, require_columns
from tests.unit.ml_pipeline.frames import transactions


def test_missing_columns_are_all_named_with_what_is_present():
    frame = transactions([("a", 0, 1.0)]).drop("amount", "region")
    with pytest.raises(DataValidationError, match="snap: missing column.*amount, region; present: transaction_id"):
        require_columns(frame, ["card_id", "amount", "region"], "snap")


def test_present_columns_pass():
    require_columns(transactions([("a", 0, 1.0)]), ["card_id", "amount"], "snap")
