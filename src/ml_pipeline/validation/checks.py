"""Turn a ``RuleSet`` into pandera checks for one data partition.

Each rule becomes one ``RuleCheck``: the pandera check that decides pass or
fail, the polars expressions that measure the actual value for the report, and
(for row-wise rules) the expression that picks the offending rows. Schema rules
(required columns, dtypes, nulls, extra columns) use pandera's own column checks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pandera.polars as pa
import polars as pl

from ml_pipeline.validation.compiled import PartitionFacts, RuleCheck, aggregate
from ml_pipeline.validation.rules import Bounds, ColumnRules, RuleSet

DTYPE_FAMILIES: dict[str, tuple[Callable[[pl.DataType], bool], pl.DataType]] = {
    "int": (lambda t: t.is_integer(), pl.Int64()),
    "float": (lambda t: t.is_float(), pl.Float64()),
    "numeric": (lambda t: t.is_numeric(), pl.Float64()),
    "string": (lambda t: t in (pl.String, pl.Categorical) or isinstance(t, pl.Enum), pl.String()),
    "bool": (lambda t: t == pl.Boolean, pl.Boolean()),
    "datetime": (lambda t: isinstance(t, pl.Datetime), pl.Datetime("us")),
    "date": (lambda t: t == pl.Date, pl.Date()),
}


FUTURE_TOLERANCE = dt.timedelta(hours=1)  # clocks of the machines that stamp events may run ahead


def compile_rules(rules: RuleSet, schema: pl.Schema,
                  facts: PartitionFacts) -> tuple[pa.DataFrameSchema, list[RuleCheck]]:
    """The pandera schema and the rule checks of ``rules`` for a frame with ``schema``."""
    checks: list[RuleCheck] = []
    columns: dict[str, pa.Column] = {}
    for name, col in _effective_columns(rules).items():
        col_checks = _column_checks(name, col, schema.get(name))
        checks.extend(col_checks)
        columns[name] = pa.Column(
            _pandera_dtype(col, schema.get(name)), nullable=col.nullable, required=col.required,
            checks=[c.check for c in col_checks if c.check is not None and c.precondition is None])
    frame_checks = [*_volume_checks(rules, facts), *_freshness_checks(rules, schema, facts),
                    *_uniqueness_checks(rules, schema), *_missing_checks(rules, schema)]
    checks.extend(frame_checks)
    if rules.extra_columns != "allow":
        extra = sorted(set(schema) - set(columns))
        checks.append(RuleCheck("schema.extra_columns", "schema", None, rules.extra_columns,
                                "no columns beyond the rules' columns", {"extra": pl.lit(", ".join(extra) or "none")}))
    pandera_schema = pa.DataFrameSchema(
        columns, strict=rules.extra_columns != "allow",
        checks=[c.check for c in frame_checks if c.check is not None and c.precondition is None])
    return pandera_schema, checks


def _effective_columns(rules: RuleSet) -> dict[str, ColumnRules]:
    """Column rules with critical columns made non-nullable."""
    columns = dict(rules.columns)
    for name in rules.completeness.critical_columns if rules.completeness else []:
        columns[name] = (columns.get(name) or ColumnRules()).model_copy(update={"nullable": False})
    return columns


def _pandera_dtype(col: ColumnRules, actual: pl.DataType | None) -> pl.DataType | None:
    """The actual dtype when it is of the wanted family (pandera then passes), else the family's canonical one."""
    if col.dtype is None:
        return None
    matches, canonical = DTYPE_FAMILIES[col.dtype]
    return actual if actual is not None and matches(actual) else canonical


def _column_checks(name: str, col: ColumnRules, actual: pl.DataType | None) -> list[RuleCheck]:
    c = pl.col(name)
    checks = []
    if col.required:
        checks.append(RuleCheck(f"schema.required:{name}", "schema", name, "error", "column present",
                                {"present": pl.lit(actual is not None)}))
    if actual is None:
        return checks
    if col.dtype:
        checks.append(RuleCheck(f"schema.dtype:{name}", "schema", name, "error", col.dtype,
                                {"dtype": pl.lit(str(actual))}))
        if not DTYPE_FAMILIES[col.dtype][0](actual):
            return checks  # value rules on a wrongly typed column would only add noise
    # NaN: pandera counts it as a null, and it lies outside every range; said so, and its rows shown
    nan = {"nan": c.is_nan().sum()} if actual.is_float() else {}
    if not col.nullable:
        checks.append(RuleCheck(f"completeness.not_null:{name}", "completeness", name, "error",
                                "0 nulls (or NaN)" if nan else "0 nulls", {"nulls": c.null_count(), **nan},
                                offending=c.is_null() | c.is_nan() if nan else c.is_null()))
    if col.empty != "allow":  # a model input written as nulls only: present in name, no signal to learn from
        filled = (c.is_not_null() & ~c.is_nan()).sum() if nan else c.is_not_null().sum()
        checks.append(aggregate(f"completeness.not_empty:{name}", "completeness", name, col.empty,
                                "at least one value", {"values": filled}, (filled > 0) | (pl.len() == 0)))
    numeric = actual.is_numeric() or actual == pl.Boolean
    if col.range:
        checks.append(_range_check(name, col.range, numeric, nan))
    for label, bounds, expr in [("mean", col.mean, c.mean()), ("std", col.std, c.std()), ("rate", col.rate, c.mean())]:
        if bounds:
            checks.append(_bounds_check(f"statistics.{label}:{name}", name, label, bounds, expr, numeric))
    for quantile in col.quantiles:
        checks.append(_bounds_check(f"statistics.quantile_{quantile.q:g}:{name}", name, f"q{quantile.q:g}",
                                    quantile, c.quantile(quantile.q), numeric))
    if col.categories:
        allowed = col.categories.allowed
        unknown = ~c.is_in(allowed)
        checks.append(RuleCheck(
            f"statistics.categories:{name}", "statistics", name, col.categories.severity,
            f"one of {allowed}", {"rows": unknown.sum(), "unknown": c.filter(unknown).unique().sort().head(5)
                                  .cast(pl.String).str.join(", ")},
            pa.Check.isin(allowed, error=f"statistics.categories:{name}"), offending=unknown.fill_null(False)))
    if col.outliers:
        checks.append(_outlier_check(name, col, numeric))
    if col.missing:
        share = c.null_count() / pl.len().clip(1)
        checks.append(aggregate(f"completeness.missing:{name}", "completeness", name, col.missing.severity,
                                 f"≤ {col.missing.max:.2%} nulls", {"null_fraction": share},
                                 share <= col.missing.max, offending=c.is_null()))
    return checks


def _range_check(name: str, bounds: Bounds, numeric: bool, nan: dict[str, pl.Expr]) -> RuleCheck:
    c = pl.col(name)
    low, high = bounds.min, bounds.max
    outside = ((c < low) if low is not None else pl.lit(False)) | ((c > high) if high is not None else pl.lit(False))
    rule_id = f"statistics.range:{name}"
    if low is not None and high is not None:
        check = pa.Check.in_range(low, high, error=rule_id)
    elif low is not None:
        check = pa.Check.greater_than_or_equal_to(low, error=rule_id)
    else:
        check = pa.Check.less_than_or_equal_to(high, error=rule_id)
    return RuleCheck(rule_id, "statistics", name, bounds.severity, f"every value in {_interval(bounds)}",
                     {"rows_outside": outside.sum(), "min": c.min(), "max": c.max(), **nan}, check,
                     offending=outside.fill_null(False), precondition=None if numeric else "column is not numeric")


def _bounds_check(rule_id: str, column: str, label: str, bounds: Bounds, expr: pl.Expr, numeric: bool) -> RuleCheck:
    inside = expr.is_between(bounds.min if bounds.min is not None else float("-inf"),
                             bounds.max if bounds.max is not None else float("inf"))
    result = aggregate(rule_id, "statistics", column, bounds.severity, f"{label} in {_interval(bounds)}",
                        {label: expr}, inside.fill_null(True))
    result.precondition = None if numeric else "column is not numeric"
    return result


def _outlier_check(name: str, col: ColumnRules, numeric: bool) -> RuleCheck:
    rule = col.outliers
    c = pl.col(name).cast(pl.Float64)
    if rule.method == "zscore":
        outlier = ((c - c.mean()) / c.std()).abs() > rule.threshold
        how = f"|z| > {rule.threshold:g}"
    else:
        q1, q3 = c.quantile(0.25), c.quantile(0.75)
        outlier = (c < q1 - rule.threshold * (q3 - q1)) | (c > q3 + rule.threshold * (q3 - q1))
        how = f"beyond {rule.threshold:g}×IQR"
    share = outlier.fill_null(False).sum() / pl.len().clip(1)
    result = aggregate(f"statistics.outliers:{name}", "statistics", name, rule.severity,
                        f"≤ {rule.max_fraction:.2%} of rows {how}", {"outlier_fraction": share},
                        share <= rule.max_fraction, offending=outlier.fill_null(False))
    result.precondition = None if numeric else "column is not numeric"
    return result


def _volume_checks(rules: RuleSet, facts: PartitionFacts) -> list[RuleCheck]:
    volume = rules.volume
    checks = [aggregate("volume.min_rows", "volume", None, volume.severity, f"≥ {volume.min_rows} rows",
                         {"rows": pl.len()}, pl.len() >= volume.min_rows)]
    history = facts.trailing_rows[-volume.trailing_partitions:]
    if volume.max_drop_fraction is not None and history:
        average = sum(history) / len(history)
        floor = average * (1 - volume.max_drop_fraction)
        checks.append(aggregate(
            "volume.drop", "volume", None, volume.severity,
            f"≥ {floor:,.0f} rows (at most {volume.max_drop_fraction:.0%} below the average {average:,.0f} "
            f"of the {len(history)} earlier partition(s))", {"rows": pl.len()}, pl.len() >= floor))
    return checks


def _freshness_checks(rules: RuleSet, schema: pl.Schema, facts: PartitionFacts) -> list[RuleCheck]:
    if rules.freshness is None:
        return []
    rule = rules.freshness
    cutoff = facts.reference_time - dt.timedelta(hours=rule.max_age_hours)
    expected = (f"newest ≥ {cutoff:%Y-%m-%d %H:%M} UTC "
                f"(at most {rule.max_age_hours:g} h before {facts.reference_time:%Y-%m-%d %H:%M})")
    column = rule.column
    if column and column in schema and not isinstance(schema[column], pl.Datetime):
        return [RuleCheck("freshness.max_age", "freshness", column, rule.severity, expected, {},
                          precondition=f"cannot check: {column} is {schema[column]}, not a datetime")]
    if column and isinstance(schema.get(column), pl.Datetime):
        newest = _as_utc(pl.col(column), schema[column]).max()
        age_hours = (pl.lit(facts.reference_time) - newest).dt.total_seconds() / 3600
        return [aggregate("freshness.max_age", "freshness", column, rule.severity, expected,
                           {"newest": newest.dt.strftime("%Y-%m-%d %H:%M:%S UTC"), "age_hours": age_hours.round(1)},
                           newest.fill_null(cutoff) >= pl.lit(cutoff)),
                _future_check(column, schema[column], facts, rule.severity)]
    newest_file = facts.newest_file_time
    fresh = newest_file is None or newest_file >= cutoff
    return [aggregate("freshness.max_age", "freshness", None, rule.severity, expected + " (file modification time)",
                       {"newest_file": pl.lit(str(newest_file))}, pl.lit(fresh))]


def _future_check(column: str, dtype: pl.Datetime, facts: PartitionFacts, severity: str) -> RuleCheck:
    """No event after the end of the partition's day (else after now), give or take an hour of clock skew."""
    limit = (facts.day_end or facts.reference_time) + FUTURE_TOLERANCE
    after = _as_utc(pl.col(column), dtype) > pl.lit(limit)
    return aggregate("freshness.not_future", "freshness", column, severity, f"no event after {limit:%Y-%m-%d %H:%M} "
                      "UTC (the end of the partition's day + 1 h)",
                      {"rows_after": after.sum(), "newest": _as_utc(pl.col(column), dtype).max()
                       .dt.strftime("%Y-%m-%d %H:%M:%S UTC")}, ~after.any(), offending=after.fill_null(False))


def _uniqueness_checks(rules: RuleSet, schema: pl.Schema) -> list[RuleCheck]:
    rule = rules.uniqueness
    if rule is None:
        return []
    checks = []
    key = [k for k in rule.key if k in schema]
    if key:
        # 64-bit row hashes: the same answer as comparing the rows (collisions ~1e-8 at 1 M rows), a tenth the memory
        hashed = pl.struct(key).hash(seed=0)
        dup = _duplicate_fraction(hashed)
        checks.append(aggregate(f"uniqueness.key:{','.join(key)}", "uniqueness", ",".join(key), rule.severity,
                                 f"≤ {rule.max_duplicate_key_fraction:.2%} rows repeat a key",
                                 {"duplicate_fraction": dup}, dup <= rule.max_duplicate_key_fraction,
                                 offending=hashed.is_duplicated()))
    if rule.max_duplicate_row_fraction is not None:
        every = pl.struct(pl.all()).hash(seed=0)
        dup = _duplicate_fraction(every)
        checks.append(aggregate("uniqueness.rows", "uniqueness", None, rule.severity,
                                 f"≤ {rule.max_duplicate_row_fraction:.2%} duplicate rows",
                                 {"duplicate_fraction": dup}, dup <= rule.max_duplicate_row_fraction,
                                 offending=every.is_duplicated()))
    return checks


def _duplicate_fraction(hashed: pl.Expr) -> pl.Expr:
    """Share of rows repeating an earlier row's hash (0 for an empty frame)."""
    return pl.when(pl.len() == 0).then(0.0).otherwise(1 - hashed.n_unique() / pl.len())


def _missing_checks(rules: RuleSet, schema: pl.Schema) -> list[RuleCheck]:
    """The global ``completeness.max_missing_fraction`` over every column without a rule of its own."""
    rule = rules.completeness
    if rule is None or rule.max_missing_fraction is None:
        return []
    own = {name for name, col in rules.columns.items() if col.missing}
    checks = []
    for name in schema:
        if name in own:
            continue
        share = pl.col(name).null_count() / pl.len().clip(1)
        checks.append(aggregate(f"completeness.missing:{name}", "completeness", name, rule.severity,
                                 f"≤ {rule.max_missing_fraction:.2%} nulls", {"null_fraction": share},
                                 share <= rule.max_missing_fraction, offending=pl.col(name).is_null()))
    return checks


def _as_utc(expr: pl.Expr, dtype: pl.Datetime) -> pl.Expr:
    """A datetime column as UTC-aware, whatever zone it is stored in (naive means UTC)."""
    if dtype.time_zone is None:
        return expr.dt.replace_time_zone("UTC")
    return expr.dt.convert_time_zone("UTC")


def _interval(bounds: Bounds) -> str:
    low = "-∞" if bounds.min is None else f"{bounds.min:g}"
    high = "+∞" if bounds.max is None else f"{bounds.max:g}"
    return f"[{low}, {high}]"
