"""Drift statistics against a numpy oracle, on generated data, through `ml-pipeline drift` and its HTML report."""

import datetime as dt
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from ml_pipeline.config import load_model_config
from ml_pipeline.data.drift_scenarios import SCENARIOS
from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.errors import PermanentError
from ml_pipeline.features.registry import build_features
from ml_pipeline.monitoring.drift import (
    DriftReport,
    EmptyWindowError,
    FeatureDrift,
    ReferenceProfile,
    Thresholds,
    compare,
    profile,
)
from ml_pipeline.monitoring.report import render_html
from tests.conftest import REPO_ROOT

FRAUD_FEATURES = ["amount", "merchant_category", "transaction_count_1h", "transaction_avg_24h",
                  "category_avg_amount_24h"]
# category_avg_amount_24h is one value per category and hour, a 24 h average: a day holds about 11 independent
# values of it (one per category), and 7 of the 11 categories (85 % of rows) share a mean amount in this generator,
# so its deciles sit inside a 46–52 cluster that moves by ±2 from day to day. Quantile PSI on it reads 0.3–2.8 between
# two undrifted days (measured over seeds 1–7); every row-level feature stays below 0.06. See docs/DESIGN.md.
ROW_LEVEL_FEATURES = FRAUD_FEATURES[:4]
DAY = dt.date(2026, 11, 20)
ML_PIPELINE = str(Path(sys.executable).with_name("ml-pipeline"))


def oracle_psi(reference: np.ndarray, current: np.ndarray, kind: str) -> float:
    """PSI the long way: explicit bin masks, reference deciles or categories, an unseen and a NaN bin, floor 1e-4."""
    if kind == "numeric":
        finite = reference[~np.isnan(reference)]
        edges = sorted(set(np.quantile(finite, [i / 10 for i in range(1, 10)], method="inverted_cdf")))
        bounds = [-np.inf, *edges, np.inf]

        def shares(x):
            return [np.mean((x > low) & (x <= high)) for low, high in zip(bounds, bounds[1:], strict=False)] + [
                np.mean(np.isnan(x))]
    else:
        known = sorted({v for v in reference if v is not None})

        def shares(x):
            seen = [np.mean([v == k for v in x]) for k in known]
            return [*seen, np.mean([v is not None and v not in known for v in x]), np.mean([v is None for v in x])]
    total = 0.0
    for r, c in zip(shares(reference), shares(current), strict=True):
        r, c = max(r, 1e-4), max(c, 1e-4)
        total += (c - r) * math.log(c / r)
    return total


def judge(reference: pl.DataFrame, current: pl.DataFrame, **kwargs) -> DriftReport:
    return compare(profile(reference, reference.columns), current, **kwargs)


def term(r: float, c: float) -> float:
    r, c = max(r, 1e-4), max(c, 1e-4)
    return (c - r) * math.log(c / r)


def test_numeric_psi_uses_the_reference_deciles_and_matches_the_hand_computed_value():
    reference = pl.DataFrame({"x": np.arange(100, dtype=float)})  # deciles 9, 19, …, 89: ten bins of 10 %
    current = pl.DataFrame({"x": [0.0] * 30 + [50.0] * 50 + [200.0] * 20})  # 30 % in ≤ 9, 50 % in 49–59, 20 % > 89
    drift = judge(reference, current).features[0]
    expected = term(0.1, 0.3) + term(0.1, 0.5) + term(0.1, 0.2) + 7 * term(0.1, 0.0)
    assert drift.score == pytest.approx(expected, rel=1e-12)
    assert drift.score == pytest.approx(oracle_psi(reference["x"].to_numpy(), current["x"].to_numpy(), "numeric"))
    assert drift.labels == ("≤ 9", "9–19", "19–29", "29–39", "39–49", "49–59", "59–69", "69–79", "79–89", "> 89",
                            "NaN")
    assert (drift.method, drift.status, drift.unseen_share) == ("psi_quantile", "alert", None)


def test_numeric_psi_matches_the_oracle_on_skewed_samples_with_nans():
    rng = np.random.default_rng(0)
    reference = np.where(rng.random(5_000) < 0.05, np.nan, rng.lognormal(3, 1, 5_000))
    current = np.where(rng.random(3_000) < 0.15, np.nan, rng.lognormal(3.2, 1.1, 3_000))
    drift = judge(pl.DataFrame({"x": reference}), pl.DataFrame({"x": current})).features[0]
    assert drift.score == pytest.approx(oracle_psi(reference, current, "numeric"), rel=1e-9)
    assert drift.reference_nan_rate == pytest.approx(np.isnan(reference).mean())
    assert drift.current_nan_rate == pytest.approx(np.isnan(current).mean())


def test_a_changed_nan_rate_alone_moves_the_score():
    values = np.arange(1_000, dtype=float)
    with_nans = values.copy()
    with_nans[::4] = np.nan  # 25 % missing, the rest spread as before
    drift = judge(pl.DataFrame({"x": values}), pl.DataFrame({"x": with_nans})).features[0]
    assert drift.current_nan_rate == 0.25 and drift.status == "alert"
    assert drift.score == pytest.approx(oracle_psi(values, with_nans, "numeric"))


def test_categorical_psi_counts_unseen_categories_and_nulls_in_their_own_bins():
    reference = pl.DataFrame({"c": ["a"] * 50 + ["b"] * 50})
    current = pl.DataFrame({"c": ["a"] * 50 + ["new"] * 30 + [None] * 20})
    drift = judge(reference, current).features[0]
    assert drift.labels == ("a", "b", "__unseen__", "NaN")
    assert drift.current_shares == (0.5, 0.0, 0.3, 0.2)
    assert drift.unseen_share == 0.3 and drift.current_nan_rate == 0.2
    assert drift.score == pytest.approx(term(0.5, 0.5) + term(0.5, 0) + term(0, 0.3) + term(0, 0.2), rel=1e-12)
    assert drift.score == pytest.approx(oracle_psi(reference["c"].to_numpy(), current["c"].to_numpy(), "cat"))
    assert drift.method == "psi_categorical"


def test_the_kind_of_a_column_follows_its_polars_type():
    frame = pl.DataFrame({"s": ["x", "y"], "b": [True, False], "i": [1, 2], "f": [0.5, 1.5]}).with_columns(
        pl.col("s").cast(pl.Categorical).alias("cat"), pl.col("s").cast(pl.Enum(["x", "y"])).alias("enum"))
    kinds = {name: column.kind for name, column in profile(frame, frame.columns).columns.items()}
    assert kinds == {"s": "categorical", "b": "categorical", "i": "numeric", "f": "numeric", "cat": "categorical",
                     "enum": "categorical"}


def test_a_constant_reference_column_has_one_cut_point_and_still_scores():
    reference = pl.DataFrame({"x": [5.0] * 100})
    column = profile(reference, ["x"]).columns["x"]
    assert column.edges == (5.0,) and column.labels == ("≤ 5", "> 5", "NaN") and column.shares == (1.0, 0.0, 0.0)
    assert judge(reference, pl.DataFrame({"x": [5.0] * 10})).features[0].score == 0.0
    moved = judge(reference, pl.DataFrame({"x": [7.0] * 10})).features[0]
    assert moved.status == "alert"
    assert moved.score == pytest.approx(oracle_psi(np.full(100, 5.0), np.full(10, 7.0), "numeric"))


def test_an_all_missing_reference_column_has_a_single_value_bin():
    reference = pl.DataFrame({"x": pl.Series([None] * 50, dtype=pl.Float64)})
    column = profile(reference, ["x"]).columns["x"]
    assert column.edges == () and column.labels == ("all values", "NaN") and column.nan_rate == 1.0
    assert judge(reference, pl.DataFrame({"x": [None, float("nan")]})).features[0].score == 0.0
    assert judge(reference, pl.DataFrame({"x": [1.0, 2.0]})).features[0].status == "alert"


def test_an_empty_window_raises_a_permanent_empty_window_error():
    reference = profile(pl.DataFrame({"x": [1.0, 2.0]}), ["x"])
    with pytest.raises(EmptyWindowError, match="no rows") as error:
        compare(reference, pl.DataFrame({"x": pl.Series([], dtype=pl.Float64)}))
    assert isinstance(error.value, PermanentError) and isinstance(error.value, ValueError)


def test_a_missing_column_or_another_kind_of_values_is_refused_naming_the_column():
    reference = profile(pl.DataFrame({"amount": [1.0, 2.0], "merchant_category": ["a", "b"]}),
                        ["amount", "merchant_category"])
    with pytest.raises(ValueError, match="merchant_category"):
        compare(reference, pl.DataFrame({"amount": [1.0]}))
    with pytest.raises(ValueError, match="'amount' is numeric"):
        compare(reference, pl.DataFrame({"amount": ["high"], "merchant_category": ["a"]}))


def test_thresholds_per_feature_with_a_default_decide_each_status():
    reference = pl.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    current = pl.DataFrame({"a": np.arange(100.0) + 5, "b": np.arange(100.0) + 5})  # the same shift: PSI ≈ 0.055
    score = judge(reference, current).features[0].score
    report = judge(reference, current, thresholds={"a": Thresholds(score / 4, score / 2)},
                   default=Thresholds(score * 2, score * 3))
    assert [(f.feature, f.status, f.warn) for f in report.features] == [("a", "alert", score / 4),
                                                                         ("b", "stable", score * 2)]


def test_dataset_drift_needs_the_share_of_alerting_features_and_the_report_round_trips_through_json():
    reference = pl.DataFrame({name: np.arange(100.0) for name in "abcd"})
    current = reference.with_columns(pl.col("a") + 200)  # one of four features alerts: 25 %
    report = judge(reference, current, drift_share=0.3)
    assert (report.status, report.drifted, report.drift_share) == ("warn", False, 0.25)
    assert judge(reference, current, drift_share=0.25).status == "alert"
    assert judge(reference, reference).status == "stable"
    assert DriftReport.from_dict(json.loads(json.dumps(report.to_dict()))) == report
    assert [f.feature for f in report.top(2)][0] == "a"
    lines = report.describe().splitlines()
    assert len(lines) == 5 and lines[0].split()[:3] == ["a", "psi_quantile", f"{report.features[0].score:.4f}"]
    assert lines[-1].startswith("verdict: warn: no dataset drift, 1 of 4 features at alert level")


def test_a_profile_round_trips_through_json_and_scores_the_same():
    frame = pl.DataFrame({"x": [1.0, 2.0, None, 4.0], "c": ["a", None, "b", "a"]})
    reference = profile(frame, ["x", "c"])
    restored = ReferenceProfile.from_dict(json.loads(json.dumps(reference.to_dict())))
    assert restored == reference and compare(restored, frame) == compare(reference, frame)


def fraud_features(seed: int, day: dt.date = DAY, drift: str | None = None, rows: int = 10_000) -> pl.DataFrame:
    """The fraud model's features of ``day``, windows computed with the day before as history."""
    scenario = SCENARIOS[drift] if drift else None
    raw = pl.concat([generate_day(day - dt.timedelta(days=1), rows, seed),
                     generate_day(day, rows, seed, drift=scenario)])
    return build_features(raw, FRAUD_FEATURES).filter(pl.col("event_time").dt.date() == day).select(FRAUD_FEATURES)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_two_fresh_samples_of_the_generator_raise_no_alarm(seed):
    report = judge(fraud_features(seed).select(ROW_LEVEL_FEATURES), fraud_features(seed + 100))
    assert {f.feature: f.status for f in report.features} == dict.fromkeys(ROW_LEVEL_FEATURES, "stable"), \
        report.describe()
    assert report.status == "stable"
    # every feature, with the levels fraud_detection.yaml ships (the aggregate's own among them): nothing alerts
    config = load_model_config(REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml").monitoring
    levels = {name: Thresholds(**t.model_dump()) for name, t in config.features.items()}
    shipped = compare(profile(fraud_features(seed), FRAUD_FEATURES), fraud_features(seed + 100), levels,
                      config.drift_share, default=Thresholds(**config.thresholds.model_dump()))
    assert not shipped.drifted and all(f.status != "alert" for f in shipped.features), shipped.describe()


@pytest.fixture(scope="module")
def reference_profile() -> ReferenceProfile:
    return profile(fraud_features(42), FRAUD_FEATURES)


@pytest.mark.parametrize(("scenario", "feature", "untouched"), [("amount-inflation", "amount", "merchant_category"),
                                                                 ("category-mix", "merchant_category", "amount")])
def test_a_covariate_shift_alerts_on_the_shifted_feature_only(reference_profile, scenario, feature, untouched):
    report = compare(reference_profile, fraud_features(42, DAY + dt.timedelta(days=1), scenario))
    statuses = {f.feature: f.status for f in report.features}
    assert statuses[feature] == "alert", report.describe()
    assert statuses[untouched] == statuses["transaction_count_1h"] == "stable", report.describe()


def test_concept_drift_leaves_every_input_where_an_undrifted_day_puts_it(reference_profile):
    after = DAY + dt.timedelta(days=1)
    drifted = compare(reference_profile, fraud_features(42, after, "fraud-pattern"))
    assert drifted == compare(reference_profile, fraud_features(42, after))  # same inputs, only labels differ
    assert all(f.status == "stable" for f in drifted.features if f.feature in ROW_LEVEL_FEATURES), drifted.describe()


def test_the_html_report_draws_every_drifted_feature_and_escapes_names():
    reference = pl.DataFrame({"<b>amount</b>": np.arange(100.0), "steady": np.arange(100.0),
                              "kind": ["a&b"] * 50 + ["c"] * 50})
    current = reference.with_columns(pl.col("<b>amount</b>") * 3, pl.lit("<i>new</i>").alias("kind"))
    page = render_html(judge(reference, current), "fraud <drift>", {"data": "file:///lake/x", "bad": "javascript:x"})
    assert page.count("<svg") == 2  # amount and kind drifted; steady did not
    assert "<b>amount</b>" not in page and "&lt;b&gt;amount&lt;/b&gt;" in page
    assert "<i>new</i>" not in page and "a&amp;b" in page and "fraud &lt;drift&gt;" in page
    assert '<a href="file:///lake/x">' in page and 'href="javascript' not in page
    assert "<script" not in page and "http" not in page.replace("http://www.w3.org/2000/svg", "")


def test_feature_drift_round_trips_with_no_unseen_share():
    drift = FeatureDrift("x", "psi_quantile", 0.0, 0.1, 0.25, "stable", 0.0, 0.0, None, ("≤ 1", "> 1", "NaN"),
                         (0.5, 0.5, 0.0), (0.5, 0.5, 0.0))
    assert FeatureDrift.from_dict(json.loads(json.dumps(drift.to_dict()))) == drift


MODEL = """\
model_name: fraud_watch
data:
  source: s3://ml-data/transactions/
  target_column: is_fraud
  features: [amount, merchant_category, transaction_count_1h, transaction_avg_24h]
monitoring:
  features:
    amount: {warn: 0.1, alert: 0.2}
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Path:
    """Four days of transactions; the last one with amounts ×1.8, written by `ml-pipeline generate-data`."""
    root = tmp_path_factory.mktemp("lake")
    (root / "configs").mkdir()
    (root / "configs" / "fraud_watch.yaml").write_text(MODEL)
    subprocess.run([ML_PIPELINE, "generate-data", "--lake", str(root), "--end-date", "2026-11-22", "--days", "4",
                    "--rows-per-day", "4000", "--drift", "amount-inflation", "--drift-from", "2026-11-22"],
                   check=True, capture_output=True)
    return root


def run_drift(lake: Path, reference: str, current: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([ML_PIPELINE, "drift", "--model", "fraud_watch", "--config-dir", str(lake / "configs"),
                           "--reference", reference, "--current", current, *extra], capture_output=True, text=True)


def test_the_drift_command_exits_0_on_a_stable_day_and_1_on_a_drifted_one(lake):
    days = lake / "transactions"
    stable = run_drift(lake, str(days / "2026-11-20"), (days / "2026-11-21").as_uri())
    assert stable.returncode == 0, stable.stdout + stable.stderr
    assert stable.stdout.splitlines()[-1].startswith("verdict: stable")
    assert [line.split()[0] for line in stable.stdout.splitlines()[1:-1]] == ROW_LEVEL_FEATURES
    drifted = run_drift(lake, str(days / "2026-11-21"), str(days / "2026-11-22"), "--json", "--report",
                        str(lake / "drift.html"))
    assert drifted.returncode == 1, drifted.stderr
    report = json.loads(drifted.stdout)
    assert {f["feature"]: f["status"] for f in report["features"]}["amount"] == "alert"
    assert report["features"][0]["alert"] == 0.2  # the model's own threshold for amount
    assert (lake / "drift.html").read_text().count("<svg") >= 1


def test_the_drift_command_exits_2_with_one_line_naming_the_bad_input(lake):
    days = lake / "transactions"
    (lake / "empty" / "2026-11-21").mkdir(parents=True)
    generate_day(DAY, 10).head(0).write_parquet(lake / "empty" / "2026-11-21" / "part-00000.parquet")
    (lake / "corrupt" / "2026-11-21").mkdir(parents=True)
    (lake / "corrupt" / "2026-11-21" / "part-00000.parquet").write_bytes(b"not parquet")
    write_day(generate_day(DAY, 500).drop("amount"), (lake / "no_amount").as_uri(), DAY)
    text = generate_day(DAY, 500)
    write_day(text.with_columns(text["amount"].cast(str)), (lake / "text_amount").as_uri(), DAY)
    write_day(text.with_columns(text["event_time"].cast(str)), (lake / "text_times").as_uri(), DAY)
    another_type = "the model's features cannot be computed from its columns"
    cases = {"no model 'nobody'": ["--model", "nobody"], "2026-12-01 does not exist": [str(days / "2026-12-01")],
             "has no rows": [str(lake / "empty" / "2026-11-21")],
             "not a readable parquet file": [str(lake / "corrupt" / "2026-11-21")],
             "missing column(s) amount": [str(lake / "no_amount" / DAY.isoformat())],
             another_type: [str(lake / "text_amount" / DAY.isoformat())],
             f"{another_type} (": [str(lake / "text_times" / DAY.isoformat())],
             "`ml-pipeline validate --model fraud_watch --data ": [str(lake / "text_times" / DAY.isoformat())],
             # the report's path, refused before the drift is computed (it was lost after it)
             f"--report {lake / 'nodir' / 'x.html'} cannot be written: {lake / 'nodir'} is no folder (create it":
                 ["--report", str(lake / "nodir" / "x.html")],
             f"--report {lake} is a folder: name the HTML file to write": ["--report", str(lake)]}
    for message, change in cases.items():
        current = change[0] if len(change) == 1 else str(days / "2026-11-21")
        result = run_drift(lake, str(days / "2026-11-20"), current, *(change if len(change) == 2 else []))
        errors = [line for line in result.stderr.splitlines() if not line.startswith("note:")]
        assert result.returncode == 2, (message, result.stderr)
        assert len(errors) == 1 and errors[0].startswith("error: ") and message in errors[0], result.stderr


def test_the_wasserstein_method_measures_how_far_values_moved_in_reference_deviations():
    rng = np.random.default_rng(0)
    reference = pl.DataFrame({"x": rng.normal(10, 2, 20_000), "c": ["a"] * 20_000})
    shifted = pl.DataFrame({"x": rng.normal(11, 2, 20_000), "c": ["a"] * 20_000})  # half a deviation further
    levels = {"x": Thresholds(0.3, 0.6, "wasserstein")}
    [x, c] = judge(reference, shifted, thresholds=levels).features
    assert x.method == "wasserstein_normed" and x.score == pytest.approx(0.5, abs=0.03) and x.status == "warn"
    assert c.method == "psi_categorical"  # the others keep their kind's PSI
    assert judge(reference, reference, thresholds=levels).features[0].score == pytest.approx(0.0, abs=1e-9)
    restored = ReferenceProfile.from_dict(json.loads(json.dumps(profile(reference, ["x", "c"]).to_dict())))
    assert compare(restored, shifted, levels).features[0].score == x.score
    with pytest.raises(ValueError, match="column 'c' is categorical: method wasserstein applies to numeric"):
        judge(reference, shifted, thresholds={"c": Thresholds(0.1, 0.2, "wasserstein")})
    constant = pl.DataFrame({"x": [5.0] * 10, "c": ["a"] * 10})
    moved = judge(constant, constant.with_columns(pl.lit(6.0).alias("x")), thresholds=levels).features[0]
    assert moved.score == 10.0 and moved.status == "alert"
