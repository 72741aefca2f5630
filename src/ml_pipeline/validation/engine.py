"""Run a ``RuleSet`` on a frame with pandera and turn the outcome into check results."""

from __future__ import annotations

import math
from typing import Any

import polars as pl
from pandera.errors import SchemaErrors

from ml_pipeline.validation.checks import compile_rules
from ml_pipeline.validation.compiled import PartitionFacts, RuleCheck
from ml_pipeline.validation.report import SAMPLE_ROWS, CheckResult
from ml_pipeline.validation.rules import RuleSet

# pandera's names for its own schema checks, mapped to our rule ids.
_NATIVE = {"column_in_dataframe": "schema.required:{case}", "not_nullable": "completeness.not_null:{column}",
           "column_in_schema": "schema.extra_columns"}


def validate_frame(frame: pl.DataFrame, rules: RuleSet, facts: PartitionFacts) -> list[CheckResult]:
    """Every rule of ``rules`` checked on ``frame``: pass or fail, expected vs actual, offending rows."""
    schema, checks = compile_rules(rules, frame.schema, facts)
    failed = _pandera_failures(schema, frame)
    measured = _measure(frame, [c for c in checks if c.precondition is None])
    results = []
    for check in checks:
        passed = check.precondition is None and check.id not in failed
        actual = check.precondition or _describe(measured.get(check.id, {}))
        rows, sample = _offending(frame, check) if not passed and check.offending is not None else (None, [])
        results.append(CheckResult(check.id, check.kind, check.column, check.severity, check.expected,
                                   actual, passed, rows, sample))
    return results


def _pandera_failures(schema, frame: pl.DataFrame) -> set[str]:
    """Rule ids pandera found failing (all of them: lazy validation)."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as exc:
        ids = set()
        for row in exc.failure_cases.select("check", "column", "failure_case").unique().iter_rows(named=True):
            name = str(row["check"])
            if name.startswith("dtype("):
                ids.add(f"schema.dtype:{row['column']}")
            elif name in _NATIVE:
                ids.add(_NATIVE[name].format(case=row["failure_case"], column=row["column"]))
            else:
                ids.add(name)
        return ids
    return set()


def _measure(frame: pl.DataFrame, checks: list[RuleCheck]) -> dict[str, dict[str, Any]]:
    """Every check's actual values, computed in one pass over the frame."""
    exprs = [expr.alias(f"{i}|{name}") for i, check in enumerate(checks) for name, expr in check.measures.items()]
    if not exprs:
        return {}
    values = frame.select(exprs).row(0, named=True)
    measured: dict[str, dict[str, Any]] = {}
    for key, value in values.items():
        index, name = key.split("|", 1)
        measured.setdefault(checks[int(index)].id, {})[name] = value
    return measured


def _offending(frame: pl.DataFrame, check: RuleCheck) -> tuple[int, list[dict]]:
    """How many rows break a row-wise rule, and the first few of them."""
    rows = frame.filter(check.offending)
    sample = [{k: _jsonable(v) for k, v in row.items()} for row in rows.head(SAMPLE_ROWS).iter_rows(named=True)]
    return rows.height, sample


def _describe(values: dict[str, Any]) -> str:
    shown = {name: value for name, value in values.items() if name != "nan" or value}  # NaN: said when there is some
    return ", ".join(f"{name}={_format(value)}" for name, value in shown.items()) or "n/a"


def _format(value: Any) -> str:
    if isinstance(value, float):
        return "null" if math.isnan(value) else f"{value:.6g}"
    return "null" if value is None else str(value) or "none"


def _jsonable(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)
