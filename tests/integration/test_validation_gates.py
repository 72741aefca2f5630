"""Each rule kind blocks training through the real DAG (``dag.test()``), with no retry spent; a release lets it
through; the data validation DAG validates a landed partition."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.integration

# One process runs every scenario (Airflow starts once): each gets its own copy of the dataset, broken in one
# way in its newest partition, mapped in as s3://ml-data through ML_DATA_URI_MAP.
SCENARIOS = """
import datetime as dt, json, os, sys
import polars as pl
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import to_uri
from ml_pipeline.validation.quarantine import QuarantineStore
from ml_pipeline_airflow.dag_kinds import FEATURES, TRAINING, VALIDATION, build_dags

DAY = dt.date(2026, 11, 20)
lake = os.environ["ML_LAKE_URI"]
BREAK = {
    "schema": lambda f: f.drop("merchant_category"),
    "statistics": lambda f: f.with_columns(pl.when(pl.col("amount") > 80).then(-1.0).otherwise(pl.col("amount"))
                                           .alias("amount")),
    "freshness": lambda f: f.with_columns(pl.col("event_time") - pl.duration(days=5)),
    "completeness": lambda f: f.with_columns(pl.lit(None, dtype=pl.Int8).alias("is_fraud")),
    "uniqueness": lambda f: pl.concat([f, f.head(200)]),
    "volume": lambda f: f.head(300),
    "warning": lambda f: f.with_columns(pl.lit("web").alias("channel")),  # extra column: a warning only
}

def dataset(name, change):
    root = f"{lake}/scenarios/{name}"
    generate_dataset(f"{root}/transactions", DAY, days=7, rows_per_day=5_000)
    path = f"{root.removeprefix('file://')}/transactions/{DAY}/part-00000.parquet"
    change(pl.read_parquet(path)).write_parquet(path)
    os.environ["ML_DATA_URI_MAP"] = f"s3://ml-data={root}"
    return f"{root}/transactions/{DAY}"

def run(dag, minute, **kwargs):
    dag.deadline = None  # dag.test() of Airflow 3.3.2 crashes on DeadlineAlerts (docs/TROUBLESHOOTING.md)
    dag_run = dag.test(logical_date=dt.datetime(2026, 11, 20, 6, minute, tzinfo=dt.UTC), **kwargs)
    return dag_run.state, {ti.task_id: [ti.state, ti.try_number] for ti in dag_run.get_task_instances()}, dag_run.run_id

training = build_dags(TRAINING)["ml_training_fraud_detection"]
features = build_dags(FEATURES)["feature_engineering_fraud_detection"]
results = {}
for minute, kind in enumerate(sys.argv[1:]):
    partition = dataset(kind, BREAK[kind])
    if kind == "warning":  # training waits for features computed from exactly this data
        results["features_warning"] = run(features, 30)[0]
    state, tasks, run_id = run(training, minute)
    entries = [e for e in QuarantineStore(lake).list("fraud_detection") if e["data_uri"] == partition]
    results[kind] = {"state": state, "tasks": tasks, "run_id": run_id,
                     "failures": entries[0]["failures"] if entries else []}
    if kind == "statistics":  # a person accepts the data: the same data now trains
        QuarantineStore(lake).release("fraud_detection", partition, reason="refunds are negative this week")
        results["features_released"] = run(features, 35)[0]
        results["released"] = dict(zip(["state", "tasks"], run(training, 50)))
    if kind == "warning":  # the landed partition through the data validation DAG
        validation = build_dags(VALIDATION)["data_validation_fraud_detection"]
        results["validation_dag"] = dict(zip(["state", "tasks"], run(validation, 55)))
print("RESULTS " + json.dumps(results))
"""
KINDS = ["schema", "statistics", "freshness", "completeness", "uniqueness", "volume", "warning"]
EXPECTED_FAILURE = {
    "schema": "[error] merchant_category: schema.required:merchant_category expected column present",
    "statistics": "[error] amount: statistics.range:amount expected every value in [0, 50000]",
    "freshness": "[error] event_time: freshness.max_age expected newest ≥ 2026-11-19 12:00 UTC",
    "completeness": "[error] is_fraud: completeness.not_null:is_fraud expected 0 nulls, actual nulls=5000",
    "uniqueness": "[error] uniqueness.rows expected ≤ 0.00% duplicate rows",
    "volume": "[error] volume.min_rows expected ≥ 1000 rows, actual rows=300",
}


@pytest.fixture(scope="module")
def results(services):
    layout, env = services
    env = {**env, "ML_LAKE_URI": layout.lake.as_uri(), "ML_PIPELINE_RULES_DIR": str(REPO_ROOT / "config")}
    result = subprocess.run([sys.executable, "-c", SCENARIOS, *KINDS], env=env, capture_output=True, text=True,
                            timeout=900)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULTS ")]
    assert lines, result.stdout[-4000:] + result.stderr[-4000:]
    return json.loads(lines[-1].removeprefix("RESULTS "))


@pytest.mark.parametrize("kind", list(EXPECTED_FAILURE))
def test_each_rule_kind_blocks_training_without_a_retry(results, kind):
    outcome = results[kind]
    assert outcome["state"] == "failed"
    assert outcome["tasks"]["validate_data"] == ["failed", 1], "bad data must not be retried (retries=3)"
    assert outcome["tasks"]["train_model"][0] == "upstream_failed"
    assert any(failure.startswith(EXPECTED_FAILURE[kind]) for failure in outcome["failures"]), outcome["failures"]


def test_released_partition_trains(results):
    assert results["features_released"] == "success"  # the feature pipeline also accepts the released data
    assert results["released"]["state"] == "success"
    assert results["released"]["tasks"]["register_model"][0] == "success"


def test_a_warning_does_not_block_and_its_report_is_logged_to_the_mlflow_run(results, services, tmp_path):
    layout, _ = services
    assert results["features_warning"] == "success"
    assert results["warning"]["state"] == "success" and results["warning"]["failures"] == []
    client = MlflowClient(layout.mlflow_url)
    [run] = client.search_runs([client.get_experiment_by_name("fraud_detection").experiment_id],
                               f"tags.`lineage.run_id` = '{results['warning']['run_id']}'")
    day_folder = "validation/all/2026-11-20"
    assert {f.path for f in client.list_artifacts(run.info.run_id, day_folder)} == {
        f"{day_folder}/report.json", f"{day_folder}/report.md"}
    report = Path(client.download_artifacts(run.info.run_id, f"{day_folder}/report.md", str(tmp_path))).read_text()
    assert report.startswith("# Data validation: fraud_detection\n\n**WARNING**")
    assert "| **WARN** | warning | `schema.extra_columns` |" in report and "extra=channel" in report


def test_the_data_validation_dag_validates_the_landed_partition(results):
    assert results["validation_dag"]["state"] == "success"
    assert results["validation_dag"]["tasks"]["wait_for_partition"][0] == "success"
    assert results["validation_dag"]["tasks"]["validate_partition"][0] == "success"
