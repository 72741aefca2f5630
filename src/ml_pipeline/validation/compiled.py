"""What a validation rule compiles to for one frame, and the facts about a partition beyond its rows."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandera.polars as pa
import polars as pl

from ml_pipeline.validation.rules import Severity


@dataclass(frozen=True)
class PartitionFacts:
    """What the rules need beyond the rows: the time to judge freshness at, file times, earlier volumes."""

    reference_time: dt.datetime
    newest_file_time: dt.datetime | None = None
    trailing_rows: list[int] = field(default_factory=list)
    day_end: dt.datetime | None = None  # the end of the partition's day (None: a partition not named by a day)


@dataclass
class RuleCheck:
    """One rule compiled for one frame."""

    id: str
    kind: str
    column: str | None
    severity: Severity
    expected: str
    measures: dict[str, pl.Expr] = field(default_factory=dict)
    check: pa.Check | None = None
    offending: pl.Expr | None = None
    precondition: str | None = None  # why the rule cannot run on this frame (it then fails)


def aggregate(rule_id: str, kind: str, column: str | None, severity: Severity, expected: str,
              measures: dict[str, pl.Expr], passes: pl.Expr, offending: pl.Expr | None = None) -> RuleCheck:
    """A rule decided by one boolean over the whole frame, run by pandera as a custom check."""
    check = pa.Check(lambda data, ok=passes: data.lazyframe.select(ok.alias("passed")), error=rule_id)
    return RuleCheck(rule_id, kind, column, severity, expected, measures, check, offending)
