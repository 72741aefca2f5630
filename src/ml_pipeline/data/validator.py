"""The bad-data error and the column guard every step uses; the rule-based gates live in ``ml_pipeline.validation``."""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ml_pipeline.errors import PermanentError


class DataValidationError(PermanentError, ValueError):
    """Bad input data: retrying cannot help, the data must be fixed."""


def require_columns(frame: pl.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise ``DataValidationError`` naming every column of ``columns`` that ``frame`` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{where}: missing column(s) {', '.join(missing)}; present: {', '.join(frame.columns)}. "
            "Fix the producer of this data or the feature list in the model config."
        )
