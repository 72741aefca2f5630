"""Each rule kind on tiny frames: the failing check names column, rule, expected and actual."""

import datetime as dt

import polars as pl
import pytest

from ml_pipeline.validation.compiled import PartitionFacts
from ml_pipeline.validation.engine import validate_frame
from ml_pipeline.validation.rules import merge_rules
from tests.unit.ml_pipeline.frames import T0, transactions

FACTS = PartitionFacts(reference_time=T0 + dt.timedelta(hours=12), trailing_rows=[])
BASE = {"columns": {"amount": {"dtype": "float", "nullable": False},
                    "is_fraud": {"dtype": "int", "nullable": False, "categories": {"allowed": [0, 1]}},
                    "event_time": {"dtype": "datetime"}}}


def frame(n: int = 20) -> pl.DataFrame:
    rows = transactions([(f"c{i % 4}", i, 10.0 + i) for i in range(n)])
    return rows.with_columns(pl.Series("is_fraud", [1 if i % 10 == 0 else 0 for i in range(n)], dtype=pl.Int8))


def failures(data: pl.DataFrame, rules: dict, facts: PartitionFacts = FACTS) -> dict:
    results = validate_frame(data, merge_rules(("base", BASE), ("test", rules)), facts)
    return {r.id: r for r in results if not r.passed}


def test_clean_data_passes_every_rule_kind():
    rules = {"columns": {"amount": {"range": {"min": 0, "max": 100}, "mean": {"min": 10, "max": 30},
                                    "quantiles": [{"q": 0.5, "max": 25}], "outliers": {"max_fraction": 0.0}},
                         "is_fraud": {"rate": {"min": 0.05, "max": 0.2}}},
             "freshness": {"max_age_hours": 24, "column": "event_time"}, "uniqueness": {"key": ["transaction_id"]},
             "completeness": {"critical_columns": ["card_id"], "max_missing_fraction": 0.0},
             "volume": {"min_rows": 10, "max_drop_fraction": 0.5}}
    assert failures(frame(), rules, PartitionFacts(FACTS.reference_time, None, [20, 22])) == {}


def test_missing_column_is_named():
    failed = failures(frame().drop("amount"), {})
    assert failed["schema.required:amount"].line() == (
        "[error] amount: schema.required:amount expected column present, actual present=False")


def test_wrong_dtype_names_expected_family_and_actual_type():
    failed = failures(frame().with_columns(pl.col("amount").cast(pl.String)), {"columns": {"amount": {
        "range": {"min": 0, "max": 1}}}})
    assert failed["schema.dtype:amount"].line() == (
        "[error] amount: schema.dtype:amount expected float, actual dtype=String")
    assert "statistics.range:amount" not in failed  # no noise from value rules on a mistyped column


def test_all_null_critical_column_fails_with_the_null_count():
    data = frame().with_columns(pl.lit(None, dtype=pl.String).alias("card_id"))
    failed = failures(data, {"completeness": {"critical_columns": ["card_id"]}})
    assert failed["completeness.not_null:card_id"].line() == (
        "[error] card_id: completeness.not_null:card_id expected 0 nulls, actual nulls=20 (20 rows)")


@pytest.mark.parametrize("empty", [None, float("nan")])
def test_a_column_without_any_value_fails_where_the_rules_say_so(empty):
    """An input written as nulls (or NaN) only: present, so `schema.required` passed; 100 % nulls was the global
    missing-share warning alone, and the model trained with nothing from it."""
    data = frame().with_columns(pl.lit(empty, dtype=pl.Float64).alias("amount"))
    rules = {"columns": {"amount": {"nullable": True, "empty": "error"}}}
    failed = failures(data, rules)
    assert failed["completeness.not_empty:amount"].line() == (
        "[error] amount: completeness.not_empty:amount expected at least one value, actual values=0")
    one_value = data.with_columns(pl.when(pl.col("transaction_id") == "tx-3").then(4.0).otherwise(pl.col("amount"))
                                  .alias("amount"))
    assert "completeness.not_empty:amount" not in failures(one_value, rules)
    assert "completeness.not_empty:amount" not in failures(data, {"columns": {"amount": {"nullable": True}}})
    assert failures(data, {"columns": {"amount": {"nullable": True, "empty": "warning"}}})[
        "completeness.not_empty:amount"].severity == "warning"
    assert "completeness.not_empty:amount" not in failures(data.head(0), rules)  # no rows: volume says it


def test_nan_is_counted_and_shown_where_it_fails_a_rule():
    """pandera counts NaN as a null: the report said `nulls=0` with no row; now it counts them and shows the rows."""
    data = frame().with_columns(pl.when(pl.col("amount") == 12.0).then(float("nan")).otherwise(pl.col("amount"))
                                .alias("amount"))
    failed = failures(data, {"columns": {"amount": {"range": {"min": 0, "max": 100}}}})
    assert failed["completeness.not_null:amount"].line() == (
        "[error] amount: completeness.not_null:amount expected 0 nulls (or NaN), actual nulls=0, nan=1 (1 rows)")
    assert failed["statistics.range:amount"].actual.endswith("nan=1")


def test_missing_fraction_is_a_warning_by_default():
    data = frame().with_columns(pl.when(pl.col("amount") > 25).then(None).otherwise(pl.col("merchant_id"))
                                .alias("merchant_id"))
    failed = failures(data, {"completeness": {"max_missing_fraction": 0.1}})
    check = failed["completeness.missing:merchant_id"]
    assert (check.severity, check.actual, check.failing_rows) == ("warning", "null_fraction=0.2", 4)


def test_out_of_range_values_are_counted_and_sampled():
    data = frame().with_columns(pl.when(pl.col("amount") == 12.0).then(-5.0).otherwise(pl.col("amount"))
                                .alias("amount"))
    failed = failures(data, {"columns": {"amount": {"range": {"min": 0, "max": 1000}}}})
    check = failed["statistics.range:amount"]
    assert check.line() == ("[error] amount: statistics.range:amount expected every value in [0, 1000], "
                            "actual rows_outside=1, min=-5, max=29 (1 rows)")
    assert check.sample[0]["amount"] == -5.0 and check.sample[0]["transaction_id"] == "tx-2"


def test_unknown_category_lists_the_unknown_values():
    data = frame().with_columns(pl.when(pl.col("amount") > 27).then(pl.lit("casino")).otherwise(
        pl.col("merchant_category")).alias("merchant_category"))
    failed = failures(data, {"columns": {"merchant_category": {"categories": {"allowed": ["grocery", "gas"]}}}})
    assert failed["statistics.categories:merchant_category"].actual == "rows=2, unknown=casino"


def test_target_rate_collapse():
    data = frame().with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud"))
    failed = failures(data, {"columns": {"is_fraud": {"rate": {"min": 0.002, "max": 0.1}}}})
    assert failed["statistics.rate:is_fraud"].line() == (
        "[error] is_fraud: statistics.rate:is_fraud expected rate in [0.002, 0.1], actual rate=0")


@pytest.mark.parametrize(("rule", "rule_id", "actual"), [
    ({"mean": {"min": 100}}, "statistics.mean:amount", "mean=19.5"),
    ({"std": {"max": 1}}, "statistics.std:amount", "std=5.91608"),
    ({"quantiles": [{"q": 0.9, "max": 20}]}, "statistics.quantile_0.9:amount", "q0.9=27"),
])
def test_aggregate_statistics_report_the_measured_value(rule, rule_id, actual):
    assert failures(frame(), {"columns": {"amount": rule}})[rule_id].actual == actual


def test_outlier_fraction_by_zscore():
    data = frame(50).with_columns(pl.when(pl.col("amount") == 11.0).then(1e6).otherwise(pl.col("amount"))
                                  .alias("amount"))
    rule = {"outliers": {"method": "zscore", "threshold": 4, "max_fraction": 0.0, "severity": "error"}}
    check = failures(data, {"columns": {"amount": rule}})["statistics.outliers:amount"]
    assert (check.actual, check.failing_rows, check.sample[0]["amount"]) == ("outlier_fraction=0.02", 1, 1e6)


def test_duplicated_rows_and_keys():
    data = pl.concat([frame(), frame().head(3)])
    failed = failures(data, {"uniqueness": {"key": ["transaction_id"], "max_duplicate_row_fraction": 0.0}})
    assert failed["uniqueness.rows"].line() == ("[error] uniqueness.rows expected ≤ 0.00% duplicate rows, "
                                                "actual duplicate_fraction=0.130435 (6 rows)")
    assert failed["uniqueness.key:transaction_id"].failing_rows == 6


def test_stale_data_fails_freshness_with_the_newest_timestamp():
    facts = PartitionFacts(reference_time=T0 + dt.timedelta(days=5))
    failed = failures(frame(), {"freshness": {"max_age_hours": 36, "column": "event_time"}}, facts)
    assert failed["freshness.max_age"].line() == (
        "[error] event_time: freshness.max_age expected newest ≥ 2026-11-24 00:00 UTC (at most 36 h before "
        "2026-11-25 12:00), actual newest=2026-11-20 12:19:00 UTC, age_hours=119.7")


def test_events_after_the_partitions_day_fail_as_from_the_future():
    """A year ahead (a clock or a conversion gone wrong) passed, and trained. Today's partition judged at 00:10 holds
    the day's later events (the demo generates whole days): only the end of its day counts, + 1 h of clock skew."""
    facts = PartitionFacts(reference_time=T0 - dt.timedelta(hours=12), day_end=T0 + dt.timedelta(hours=12))
    rules = {"freshness": {"max_age_hours": 36, "column": "event_time"}}
    assert "freshness.not_future" not in failures(frame(), rules, facts)  # every event after "now", within its day
    late = frame().with_columns(pl.when(pl.col("amount") == 12.0).then(pl.col("event_time") + dt.timedelta(days=365))
                                .otherwise(pl.col("event_time")).alias("event_time"))
    failed = failures(late, rules, facts)["freshness.not_future"]
    assert failed.line() == (
        "[error] event_time: freshness.not_future expected no event after 2026-11-21 01:00 UTC (the end of the "
        "partition's day + 1 h), actual rows_after=1, newest=2027-11-20 12:02:00 UTC (1 rows)")
    lenient = {"freshness": {**rules["freshness"], "severity": "warning"}}
    assert failures(late, lenient, facts)["freshness.not_future"].severity == "warning"  # the freshness rule's


def test_freshness_without_a_time_column_uses_the_file_time():
    facts = PartitionFacts(T0 + dt.timedelta(days=5), newest_file_time=T0)
    failed = failures(frame().drop("event_time"), {"columns": {"event_time": {"required": False}},
                                                   "freshness": {"max_age_hours": 36, "column": "event_time"}}, facts)
    assert "file modification time" in failed["freshness.max_age"].expected


def test_empty_partition_and_volume_drop():
    assert failures(frame().head(0), {"volume": {"min_rows": 1}})["volume.min_rows"].actual == "rows=0"
    facts = PartitionFacts(FACTS.reference_time, trailing_rows=[100, 100])
    check = failures(frame(), {"volume": {"max_drop_fraction": 0.5}}, facts)["volume.drop"]
    assert check.expected.startswith("≥ 50 rows (at most 50% below the average 100")


def test_extra_columns_policy():
    failed = failures(frame(), {"extra_columns": "warning"})
    assert failed["schema.extra_columns"].severity == "warning"
    assert "region" in failed["schema.extra_columns"].actual
    assert "schema.extra_columns" not in failures(frame(), {})
