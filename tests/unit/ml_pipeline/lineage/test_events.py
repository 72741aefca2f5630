"""What each step read and wrote, from real steps on a local lake: one step's output is the next one's input."""

import datetime as dt
import json
from dataclasses import replace

import polars as pl
import pytest

from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.data.lake import to_uri
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.lineage import naming
from ml_pipeline.lineage.events import STEPS, parquet_facts, run_facet, step_lineage
from ml_pipeline.pipelines import training, validation
from tests.unit.ml_pipeline.pipelines.test_context import make_context

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    (tmp_path / "no-rules").mkdir()
    monkeypatch.setenv("ML_PIPELINE_RULES_DIR", str(tmp_path / "no-rules"))  # only the rules the config implies
    lake = to_uri(tmp_path)
    for offset in range(2):
        day = DAY - dt.timedelta(days=offset)
        write_day(generate_day(day, 500), f"{lake}/transactions", day)
    ctx = make_context(lake_uri=lake, uri_map={"s3://ml-data": lake}, trigger="drift")
    data = ctx.config.data.model_copy(update={"lookback_days": 2})
    return replace(ctx, config=ctx.config.model_copy(update={"data": data}))


def keys(refs) -> list[str]:
    return [ref.key for ref in refs]


def test_training_steps_connect_partition_snapshot_features_run_and_version(ctx):
    loaded = training.load_data(ctx)
    load = step_lineage("load_data", ctx, (None,), loaded)
    assert [ref.kind for ref in load.inputs] == ["partition", "partition"]
    assert load.inputs[-1].key.endswith("/transactions/2026-11-20") and load.inputs[-1].key.startswith("file:/")
    assert load.inputs[-1].version == loaded["fingerprints"][-1] and load.inputs[-1].rows == 500
    (snapshot,) = load.outputs
    assert (snapshot.kind, snapshot.version, snapshot.rows) == ("snapshot", loaded["data_hash"], 1000)
    assert ("amount", "double") in snapshot.schema

    validated = step_lineage("validate_data", ctx, (loaded,), training.validate_data(ctx, loaded))
    assert keys(validated.inputs) == [snapshot.key]
    assert [ref.kind for ref in validated.outputs] == ["validation_report"] * 2
    assert validated.outputs[-1].name.endswith("/transactions/2026-11-20/_validation/fraud_detection/report.md")

    features = training.engineer_features(ctx, loaded)
    engineered = step_lineage("engineer_features", ctx, (loaded,), features)
    assert keys(engineered.inputs) == [snapshot.key]  # no feature store in this run: no feature views read
    (table,) = engineered.outputs
    assert (table.kind, table.rows) == ("features", 1000) and table.schema

    trained = {"mlflow_run_id": "abc123", "model_uri": "models:/m-1", "train_rows": 800, "holdout_rows": 200}
    train = step_lineage("train_model", ctx, (loaded, features), trained)
    assert keys(train.inputs) == [snapshot.key, table.key]
    (run,) = train.outputs
    assert run.key == "mlflow://mlflow/runs/abc123" and run.properties["experiment"] == "fraud_detection"

    registered = {"model_name": "fraud_detection", "version": "3", "aliases": ["challenger"],
                  "model_uri": "models:/fraud_detection/3"}
    register = step_lineage("register_model", ctx, (loaded, trained, {}), registered)
    assert keys(register.inputs) == [run.key]
    (version,) = register.outputs
    assert version.key == "mlflow://mlflow/models/fraud_detection/3"
    assert version.properties == {"model": "fraud_detection", "version": "3", "data_hash": loaded["data_hash"],
                                  "model_uri": "models:/fraud_detection/3"}


def test_the_run_facet_names_model_commit_config_trigger_and_the_airflow_run(ctx):
    facet = run_facet(ctx)
    assert facet["model"] == "fraud_detection" and facet["trigger"] == "drift"
    assert facet["config_hash"] == ctx.config.content_hash() and len(facet["git_commit"]) in (40, 7)
    assert (facet["dag_id"], facet["run_id"]) == (ctx.dag_id, ctx.run_id)
    assert facet["git_dirty"] in ("true", "false")  # a commit of a tree with uncommitted changes says so


def test_a_run_from_a_tree_with_uncommitted_changes_says_so_beside_its_commit():
    from ml_pipeline.lineage.describe import line_of_run

    run = {"started": None, "job": "train_model", "git_commit": "abc123", "config_hash": "c0ffee", "trigger": "drift"}
    assert "(commit abc123 with uncommitted changes, config c0ffee" in line_of_run({**run, "git_dirty": "true"})
    assert "(commit abc123, config c0ffee" in line_of_run({**run, "git_dirty": "false"})


def test_a_git_that_hangs_past_its_timeout_leaves_the_commit_unknown_not_the_task_failed(tmp_path, monkeypatch):
    import subprocess

    from ml_pipeline.lineage import provenance

    def hangs(argv, **kwargs):
        raise subprocess.TimeoutExpired(argv, kwargs.get("timeout"))

    monkeypatch.setattr(provenance.subprocess, "run", hangs)
    assert provenance.code_version(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}


def test_a_failed_partition_validation_names_its_report_and_quarantine_decision(ctx, tmp_path):
    bad = f"{ctx.dataset_uri}/2026-11-21"
    write_day(pl.DataFrame({"unexpected": [1, 2, 3]}), ctx.dataset_uri, dt.date(2026, 11, 21))
    with pytest.raises(DataValidationError):
        validation.validate_partition(ctx, bad)
    failed = step_lineage("validate_partition", ctx, (bad, None), None)
    assert keys(failed.inputs) == [naming.uri_dataset(bad, "partition").key]
    report, quarantine = failed.outputs
    assert report.kind == "validation_report" and quarantine.kind == "quarantine"
    entry = json.loads((tmp_path / quarantine.name.split(str(tmp_path), 1)[1].lstrip("/")).read_text())
    assert entry["status"] == "quarantined" and quarantine.version == entry["fingerprint"]
    passed = validation.validate_partition(ctx, f"{ctx.dataset_uri}/2026-11-20")
    ok = step_lineage("validate_partition", ctx, (passed["data_uri"], None), passed)
    assert [ref.kind for ref in ok.outputs] == ["validation_report"]
    assert ok.outputs[0].key == naming.uri_dataset(passed["report_uri"], "validation_report").key


def test_deployments_say_which_version_an_endpoint_serves_from_when(ctx):
    promoted = step_lineage("promote", ctx, ({}, {}), {"version": "4", "previous": "3"})
    assert keys(promoted.inputs) == ["mlflow://mlflow/models/fraud_detection/4"]
    (endpoint,) = promoted.outputs
    assert endpoint.key == "serving://ml-platform/endpoints/fraud-detection-api"
    assert endpoint.properties["action"] == "promoted" and endpoint.properties["version"] == "4"
    assert dt.datetime.fromisoformat(endpoint.properties["from"]) <= dt.datetime.now(dt.UTC)
    back = step_lineage("roll_back", ctx, ({}, "canary failed"),
                        {"from": "4", "to": "3", "reason": "canary failed", "verified": {}})
    assert keys(back.inputs) == ["mlflow://mlflow/models/fraud_detection/3"]
    assert back.outputs[0].properties | {"from": None} == {
        "model": "fraud_detection", "version": "3", "action": "rolled_back", "replaced": "4",
        "reason": "canary failed", "from": None}


def test_a_monitoring_check_reads_a_versions_predictions_and_writes_its_report(ctx):
    recorded = {"check_id": 7, "model": "fraud_detection", "version": "3", "status": "alert", "cause": "drift",
                "report_uri": "file:///lake/monitoring/fraud_detection/2026-11-20/report.md", "window_end": "x"}
    check = step_lineage("record_check", ctx, ({},), recorded)
    assert keys(check.inputs) == ["mlflow://mlflow/models/fraud_detection/3",
                                  "serving://ml-platform/predictions/fraud_detection"]
    assert check.outputs[0].kind == "monitoring_report" and check.outputs[0].properties["status"] == "alert"
    assert step_lineage("record_check", ctx, ({},), {**recorded, "report_uri": None}) is None


def test_unknown_steps_and_failed_steps_other_than_validation_emit_nothing(ctx):
    assert step_lineage("evaluate_model", ctx, (), {"metrics": {}}) is None
    assert step_lineage("train_model", ctx, ({}, {}), None) is None
    assert {"load_data", "validate_data", "engineer_features", "combine_partitions", "train_model", "register_model",
            "validate_partition", "compute_day", "write_to_feature_store", "promote", "roll_back",
            "record_check"} <= set(STEPS)


def test_parquet_facts_read_footers_only_and_never_fail(tmp_path):
    pl.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]}).write_parquet(tmp_path / "one.parquet")
    pl.DataFrame({"a": [4], "b": ["w"]}).write_parquet(tmp_path / "two.parquet")
    assert parquet_facts(to_uri(tmp_path)) == (4, (("a", "int64"), ("b", "large_string")))
    assert parquet_facts(to_uri(tmp_path / "one.parquet"))[0] == 3
    assert parquet_facts(to_uri(tmp_path / "missing")) == (None, ())


def test_feature_tasks_connect_partitions_offline_files_feature_views_and_training(ctx):
    from ml_pipeline.feature_store.settings import FeatureStoreSettings

    ctx = replace(ctx, feature_store=FeatureStoreSettings(root=f"{ctx.lake_uri}/feature_store"))
    day = f"{ctx.dataset_uri}/2026-11-20"
    computed = {"day": "2026-11-20", "sources": {day: "fp-20"},
                "views": {"card_windows": {"uri": f"{ctx.lake_uri}/feature_store/offline/x.parquet", "rows": 9}}}
    compute = step_lineage("compute_day", ctx, ("2026-11-20",), computed)
    assert keys(compute.inputs) == [naming.uri_dataset(day, "partition").key]
    assert compute.inputs[0].version == "fp-20"
    (offline,) = compute.outputs
    assert offline.kind == "offline_features" and offline.rows == 9
    assert offline.name.endswith("/feature_store/offline/fraud_detection/card_windows")
    name = ctx.feature_store.feast_name("fraud_detection", "card_windows")
    written = step_lineage("write_to_feature_store", ctx, ([computed],), {"feature_views": [name], "days": ["d"]})
    assert keys(written.inputs) == [offline.key]
    assert [ref.kind for ref in written.outputs] == ["feature_view"]
    loaded = {"snapshot_uri": f"{ctx.lake_uri}/runs/s.parquet", "data_hash": "h", "rows": 1, "partition": None}
    engineered = step_lineage("engineer_features", ctx, (loaded,), {"features_uri": f"{ctx.lake_uri}/f.parquet",
                                                                     "rows": 1})
    assert written.outputs[0].key in keys(engineered.inputs)  # training reads the views the feature DAG wrote


def test_combined_slices_feed_training_under_their_own_names(ctx):
    slices = [{"snapshot_uri": f"{ctx.lake_uri}/runs/region={r}/snapshot.parquet", "data_hash": r, "rows": 1,
               "partition": r} for r in ("apac", "latam")]
    tables = [{"features_uri": f"{ctx.lake_uri}/runs/region={r}/features.parquet", "rows": 1}
              for r in ("apac", "latam")]
    combined = {"loaded": {"snapshot_uri": ",".join(s["snapshot_uri"] for s in slices), "data_hash": "c", "rows": 2,
                           "partition": None}, "features": {"features_uri": f"{ctx.lake_uri}/runs/features.parquet",
                                                            "rows": 2}}
    combine = step_lineage("combine_partitions", ctx, (slices, tables), combined)
    train = step_lineage("train_model", ctx, (combined["loaded"], combined["features"]), {"mlflow_run_id": "r"})
    assert keys(train.inputs) == keys(combine.inputs)[:2] + keys(combine.outputs)
