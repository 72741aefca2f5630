"""Data checks that fail fast with a message naming what is wrong and how to fix it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl


class DataValidationError(ValueError):
    """Bad input data: retrying cannot help, the data must be fixed."""


TRANSACTIONS_SCHEMA: Mapping[str, type[pl.DataType]] = {
    "transaction_id": pl.String,
    "card_id": pl.String,
    "merchant_id": pl.String,
    "merchant_category": pl.String,
    "amount": pl.Float64,
    "region": pl.String,
    "event_time": pl.Datetime,
    "is_fraud": pl.Int8,
}


def require_columns(frame: pl.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise ``DataValidationError`` naming every column of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{where}: missing column(s) {', '.join(missing)}; present: {', '.join(frame.columns)}. "
            "Fix the producer of this data or the feature list in the model config."
        )


def validate_schema(frame: pl.DataFrame, schema: Mapping[str, type[pl.DataType]], where: str) -> dict:
    """Check column presence, dtypes and non-emptiness; return a report or raise."""
    require_columns(frame, schema, where)
    wrong = [f"{name} is {frame.schema[name]}, expected {dtype.__name__}"
             for name, dtype in schema.items() if not _dtype_matches(frame.schema[name], dtype)]
    if wrong:
        raise DataValidationError(f"{where}: wrong column type(s): {'; '.join(wrong)}.")
    if frame.height == 0:
        raise DataValidationError(f"{where}: no rows. Check that the partition was written completely.")
    return {"rows": frame.height, "columns": list(frame.columns), "passed": True}


def _dtype_matches(actual: pl.DataType, expected: type[pl.DataType]) -> bool:
    if expected is pl.Float64:
        return actual.is_numeric()
    if expected is pl.Int8:
        return actual.is_integer() or actual == pl.Boolean
    return actual == expected or isinstance(actual, expected)
