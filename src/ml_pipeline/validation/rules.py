"""Validation rules as typed config: global defaults, rules derived from the model config, per-model rules.

Three sources are merged, later ones winning field by field:

1. ``config/data_validation_rules.yaml`` (every model),
2. what the model config already says (features and target exist, the target is a
   0/1 column without nulls, the event time is a datetime),
3. the model's own rules: the ``validation:`` section of its config, or
   ``config/schemas/<model>.yaml|json``.

Every rule has a severity: ``error`` blocks training, ``warning`` is only reported.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ml_pipeline.config import Cron
from ml_pipeline.config_reading import describe_errors, read_yaml
from ml_pipeline.errors import PermanentError

Severity = Literal["error", "warning"]
DType = Literal["int", "float", "numeric", "string", "bool", "datetime", "date"]


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # `max: "0.1"`, `nullable: 1` refused


class Bounds(_Rule):
    """A measured value that must lie within ``[min, max]`` (either side optional)."""

    min: float | None = None
    max: float | None = None
    severity: Severity = "error"

    @model_validator(mode="after")
    def _one_side(self) -> Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is greater than max {self.max}")
        return self


class Quantile(Bounds):
    """The ``q`` quantile of a column within bounds."""

    q: float = Field(gt=0.0, lt=1.0)


class Categories(_Rule):
    """Every non-null value is one of ``allowed``."""

    allowed: list[str | int | bool] = Field(min_length=1)
    severity: Severity = "error"


class Outliers(_Rule):
    """At most ``max_fraction`` of the rows are outliers (|z| > threshold, or beyond k × IQR)."""

    method: Literal["zscore", "iqr"] = "iqr"
    threshold: float = Field(default=3.0, gt=0.0, description="z-score limit, or the IQR multiplier k")
    max_fraction: float = Field(ge=0.0, le=1.0)
    severity: Severity = "warning"


class Fraction(_Rule):
    """A fraction of rows that must not exceed ``max``."""

    max: float = Field(ge=0.0, le=1.0)
    severity: Severity = "error"


class ColumnRules(_Rule):
    """Rules for one column."""

    dtype: DType | None = None
    required: bool = True
    nullable: bool = True
    range: Bounds | None = Field(default=None, description="every value within [min, max]")
    mean: Bounds | None = None
    std: Bounds | None = None
    quantiles: list[Quantile] = Field(default_factory=list)
    categories: Categories | None = None
    outliers: Outliers | None = None
    rate: Bounds | None = Field(default=None, description="share of 1s of a 0/1 column (a target's positive rate)")
    missing: Fraction | None = Field(default=None, description="largest share of nulls in this column")
    empty: Severity | Literal["allow"] = Field(
        default="allow", description="a column with no value at all (every row null or NaN): allowed, or the severity")


class Freshness(_Rule):
    """The newest event (or, without a time column, the newest file) is at most ``max_age_hours`` old."""

    max_age_hours: float = Field(default=48.0, gt=0.0)
    column: str | None = Field(default=None, description="event time column (default: the model's timestamp_column)")
    severity: Severity = "error"


class Completeness(_Rule):
    """No nulls in critical columns; at most ``max_missing_fraction`` nulls in any other column."""

    critical_columns: list[str] = Field(default_factory=list)
    max_missing_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    severity: Severity = "warning"


class Uniqueness(_Rule):
    """Duplicate rows, and rows repeating a key, below a share of all rows."""

    key: list[str] = Field(default_factory=list)
    max_duplicate_key_fraction: float = Field(default=0.0, ge=0.0, le=1.0)
    max_duplicate_row_fraction: float | None = Field(default=None, ge=0.0, le=1.0)
    severity: Severity = "error"


class Volume(_Rule):
    """At least ``min_rows``; no drop beyond ``max_drop_fraction`` of the trailing partitions' average."""

    min_rows: int = Field(default=1, ge=0)
    max_drop_fraction: float | None = Field(default=None, gt=0.0, le=1.0)
    trailing_partitions: int = Field(default=7, ge=1, le=90)
    severity: Severity = "error"


class RuleSet(_Rule):
    """Every rule that applies to one model's data partitions."""

    extra_columns: Literal["allow", "warning", "error"] = "allow"
    columns: dict[str, ColumnRules] = Field(default_factory=dict)
    freshness: Freshness | None = None
    completeness: Completeness | None = None
    uniqueness: Uniqueness | None = None
    volume: Volume = Volume()
    schedule: Cron = Field(default="15 * * * *",
                           description="cron (UTC) of the data_validation DAG that checks new partitions")

    def for_slice(self) -> RuleSet:
        """The rules of one ``partition_by`` slice: a column with no value in it is a warning, not an error.

        A slice may lack a feature the day has (one region without a merchant category); the whole day may not.
        """
        columns = {name: column.model_copy(update={"empty": "warning"}) if column.empty == "error" else column
                   for name, column in self.columns.items()}
        return self.model_copy(update={"columns": columns})

    def content_hash(self) -> str:
        """Stable hash of the effective rules, recorded in every report."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:16]


class RulesError(PermanentError, ValueError):
    """A rules file is malformed; the message names the file and the field."""


def read_rules_file(path: Path) -> dict:
    """The rules a YAML or JSON file sets (checked when merged); ``{}`` when the file does not exist."""
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text()) if path.suffix == ".json" else read_yaml(path)
    except (OSError, ValueError) as exc:
        raise RulesError(str(exc) if str(path) in str(exc) else f"{path}: cannot read rules: {exc}") from exc
    if raw is not None and not isinstance(raw, dict):
        raise RulesError(f"{path}: expected a mapping of rules, got {type(raw).__name__}")
    return raw or {}


def merge_rules(*sources: tuple[str, dict]) -> RuleSet:
    """Deep-merge named rule sources, later ones winning field by field, into one ``RuleSet``.

    A source may set only part of a rule (``rate: {severity: warning}``); after each source the merged rules
    must be valid, so an error names the source that made them invalid, and the field.
    """
    merged: dict = {}
    for name, source in sources:
        merged = _deep_merge(merged, source)
        try:
            rules = RuleSet.model_validate(merged)
        except ValidationError as exc:
            raise RulesError(f"{name}: invalid validation rules: " + "; ".join(describe_errors(RuleSet, exc))) from None
    return rules if sources else RuleSet()


def _deep_merge(base: dict, override: dict) -> dict:
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = value
    return result
