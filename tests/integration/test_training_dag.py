"""The fraud training DAG end to end with ``dag.test()``, against a real MLflow server and PostgreSQL."""

import ast
import datetime as dt
import json
import subprocess
import sys

import mlflow
import polars as pl
import pytest
from mlflow import MlflowClient

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from ml_pipeline.feature_store.settings import FeatureStoreSettings
from ml_pipeline.lineage.record import VERSION_TAGS
from ml_pipeline.pipelines import training
from ml_pipeline.pipelines.context import RunContext

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 20)
RUN_DAG = """
import datetime as dt, sys
from ml_pipeline_airflow.dag_kinds import FEATURES, TRAINING, build_dags
dag = {**build_dags(FEATURES), **build_dags(TRAINING)}[sys.argv[1]]
dag.deadline = None  # dag.test() of Airflow 3.3.2 crashes on DeadlineAlerts (docs/TROUBLESHOOTING.md)
run = dag.test(logical_date=dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC))
import collections
print("TASKS", dict(collections.Counter(ti.task_id for ti in run.get_task_instances())))
print("LABELS", sorted(ti.rendered_map_index or "" for ti in run.get_task_instances() if ti.task_id == "load_data"))
print("RUN", run.run_id, run.state)
sys.exit(0 if run.state == "success" else 1)
"""


def run_dag_test(env: dict, dag_id: str) -> str:
    """Run ``dag.test()`` for one generated DAG in a fresh process; return the run id."""
    result = subprocess.run([sys.executable, "-c", RUN_DAG, dag_id], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout.strip().splitlines()[-1].split()[1]


def task_counts(env: dict, dag_id: str) -> tuple[str, dict]:
    """Run ``dag.test()``; return the run id, the task instances per task and load_data's map labels."""
    result = subprocess.run([sys.executable, "-c", RUN_DAG, dag_id], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    counts = ast.literal_eval(next(line for line in lines if line.startswith("TASKS ")).removeprefix("TASKS "))
    counts["load_data labels"] = ast.literal_eval(next(line for line in lines if line.startswith("LABELS "))[7:])
    return lines[-1].split()[1], counts


@pytest.fixture(scope="module")
def dag_run(services):
    layout, env = services
    generate_dataset(join_uri(layout.lake.as_uri(), "transactions"), DAY, days=7, rows_per_day=10_000)
    run_dag_test(env, "feature_engineering_fraud_detection")  # training reads its derived features from the store
    return layout, run_dag_test(env, "ml_training_fraud_detection")


def test_dag_registers_a_challenger_with_lineage(dag_run):
    layout, run_id = dag_run
    client = MlflowClient(layout.mlflow_url)
    challenger = client.get_model_version_by_alias("fraud_detection", "challenger")
    assert challenger.aliases == ["challenger"]  # only the deployment DAG makes a champion
    run = client.get_run(challenger.run_id)
    assert run.data.metrics["holdout_auc"] >= 0.85
    tags, run_tags = challenger.tags, run.data.tags
    assert {k for k in tags if k.startswith("lineage.")} == set(VERSION_TAGS)  # a readable registry: few tags
    assert tags["lineage.run_id"] == run_id and len(tags["lineage.code.git_commit"]) == 40
    assert tags["lineage.code.git_dirty"] in ("true", "false")  # a commit of a tree with uncommitted changes says so
    assert run_tags["lineage.dag_id"] == "ml_training_fraud_detection"  # the rest of the lineage is on the run
    assert run_tags["lineage.data.partitions"].split(",")[-1].endswith("transactions/2026-11-20")
    assert len(tags["lineage.data.hash"]) == 64 and run_tags["lineage.data.hash"] == tags["lineage.data.hash"]
    config_path = config_dir() / "fraud_detection.yaml"
    assert run_tags["lineage.config.hash"] == load_model_config(config_path).content_hash()
    assert run_tags["lineage.version.apache-airflow-core"] == "3.3.2"
    assert tags["lineage.data.snapshot_uri"].startswith(layout.lake.as_uri() + "/runs/ml_training_fraud_detection/")
    assert client.get_registered_model("fraud_detection").description == load_model_config(config_path).description


def test_training_data_are_mlflow_datasets_and_the_config_is_kept_as_it_was(dag_run):
    layout, run_id = dag_run
    client = MlflowClient(layout.mlflow_url)
    run = client.get_run(client.get_model_version_by_alias("fraud_detection", "challenger").run_id)
    inputs = {next(t.value for t in d.tags if t.key == "mlflow.data.context"): d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "evaluation"}
    mlflow.set_tracking_uri(layout.mlflow_url)
    record = json.loads(mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/lineage/lineage.json"))
    for context, digest, rows in (("training", record["train_sha256"], record["train_rows"]),
                                  ("evaluation", record["holdout_sha256"], record["holdout_rows"])):
        dataset, tags = inputs[context].dataset, {t.key: t.value for t in inputs[context].tags}
        assert tags["sha256"] == digest and dataset.digest == digest[:32]  # our digest of every row
        assert tags["rows"] == str(rows) and json.loads(dataset.profile)["num_rows"] == rows
        assert dataset.source_type and "features.parquet" in dataset.source
        assert "amount" in dataset.schema
    config_text = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/lineage/config.yaml")
    assert config_text == (config_dir() / "fraud_detection.yaml").read_text()
    assert record["data_hash"] == run.data.tags["lineage.data.hash"] and record["seed"] == 42
    assert record["features_from_store"] is True


def test_rerunning_steps_of_the_same_run_creates_no_duplicates(dag_run):
    layout, run_id = dag_run
    client = MlflowClient(layout.mlflow_url)
    versions_before = client.search_model_versions("name = 'fraud_detection'")
    config_path = config_dir() / "fraud_detection.yaml"
    ctx = RunContext(load_model_config(config_path), config_path, DAY, layout.lake.as_uri(), layout.mlflow_url,
                     "ml_training_fraud_detection", run_id, uri_map={"s3://ml-data": layout.lake.as_uri()},
                     feature_store=FeatureStoreSettings(root=join_uri(layout.lake.as_uri(), "feature_store")))
    loaded = training.load_data(ctx)
    features = training.engineer_features(ctx, loaded)
    trained = training.train_model(ctx, loaded, features)
    evaluation = training.evaluate_model(ctx, features, trained)
    registered = training.register_model(ctx, loaded, trained, evaluation)
    assert trained["mlflow_run_id"] == client.get_model_version_by_alias("fraud_detection", "challenger").run_id
    assert len(client.search_model_versions("name = 'fraud_detection'")) == len(versions_before)
    assert registered["aliases"] == ["challenger"]


def test_a_run_started_by_an_event_does_not_train_what_a_version_already_learned(dag_run, tmp_path, monkeypatch):
    """The same data, features, config, code, libraries and threads as the challenger: a run started by features,
    drift or the clock names that version and trains nothing; a manual run, other data, other features, another
    config or another thread count trains, and so does the run that trained the version itself."""
    layout, run_id = dag_run
    challenger = MlflowClient(layout.mlflow_url).get_model_version_by_alias("fraud_detection", "challenger")
    config_path = config_dir() / "fraud_detection.yaml"

    def context(trigger: str, path=config_path, run=f"asset_triggered__{tmp_path.name}") -> RunContext:
        return RunContext(load_model_config(path), path, DAY, layout.lake.as_uri(), layout.mlflow_url,
                          "ml_training_fraud_detection", run, trigger=trigger,
                          uri_map={"s3://ml-data": layout.lake.as_uri()},
                          feature_store=FeatureStoreSettings(root=join_uri(layout.lake.as_uri(), "feature_store")))

    loaded = training.load_data(context("drift"))  # read again from the lake: the same rows, the same hash
    features = training.engineer_features(context("drift"), loaded)
    assert loaded["data_hash"] == challenger.tags["lineage.data.hash"]
    for trigger in ("features", "drift", "decay+features", "schedule"):
        learned = training.trained_before(context(trigger), loaded, features)
        assert learned and (learned.model, learned.version, learned.trigger) == (
            "fraud_detection", challenger.version, trigger)
        reason = learned.reason
        assert reason.startswith(f"fraud_detection v{challenger.version} already learned exactly these inputs"), reason
        assert f"run {run_id}, trigger manual" in reason and f"this {trigger} run trains nothing" in reason
    for trigger in ("manual", "backfill", "asset_materialization"):  # whoever asks gets a new version
        assert training.trained_before(context(trigger), loaded, features) is None
    assert training.trained_before(context("drift", run=run_id), loaded, features) is None  # its own version
    assert training.trained_before(context("drift"), {**loaded, "data_hash": "0" * 64}, features) is None
    fewer = tmp_path / "features.parquet"
    pl.read_parquet(features["features_uri"]).head(-1).write_parquet(fewer)  # a day before the window changed
    assert training.trained_before(context("drift"), loaded, {**features, "features_uri": fewer.as_uri()}) is None
    changed = tmp_path / "fraud_detection.yaml"
    changed.write_text(config_path.read_text().replace("min_auc_threshold: 0.85", "min_auc_threshold: 0.86"))
    assert load_model_config(changed).content_hash() != load_model_config(config_path).content_hash()
    assert training.trained_before(context("drift", changed), loaded, features) is None
    monkeypatch.setenv("ML_TRAIN_THREADS", "3")  # tree models are deterministic for one thread count
    assert training.trained_before(context("drift"), loaded, features) is None


def test_a_run_without_a_lineage_record_is_named_at_once_and_an_unreachable_server_is_an_outage(dag_run, monkeypatch):
    """A missing record is no outage: MLflow's artifact server answers a missing file with a 500 that its client
    retries for minutes, so the record is listed first. A server that does not answer is transient (retried)."""
    import time

    from ml_pipeline.errors import TransientError
    from ml_pipeline.registry.mlflow_lineage import LineageMissingError, read_record

    layout, _ = dag_run
    client = MlflowClient(layout.mlflow_url)
    mlflow.set_tracking_uri(layout.mlflow_url)
    trained = client.get_model_version_by_alias("fraud_detection", "challenger")
    assert read_record(client, trained.run_id)[0].data_hash == trained.tags["lineage.data.hash"]
    bare = client.create_run(client.get_run(trained.run_id).info.experiment_id, run_name="no lineage").info.run_id
    try:
        started = time.monotonic()
        with pytest.raises(LineageMissingError, match=f"MLflow run {bare} has no lineage/lineage.json"):
            read_record(client, bare)
        assert time.monotonic() - started < 10
        monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        with pytest.raises(TransientError, match=f"the artifact list of MLflow run {bare} could not be read"):
            read_record(MlflowClient("http://127.0.0.1:9"), bare)  # nothing listens on the discard port
    finally:
        client.delete_run(bare)


def test_mlflow_hook_finds_the_best_run_promotes_by_alias_and_reports_lineage(dag_run, monkeypatch):
    from ml_pipeline_airflow.hooks.mlflow import MlflowHook

    layout, run_id = dag_run
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", f'{{"conn_type": "http", "host": "127.0.0.1", '
                                                      f'"port": {layout.mlflow_port}}}')
    hook, client = MlflowHook(), MlflowClient(layout.mlflow_url)
    challenger = client.get_model_version_by_alias("fraud_detection", "challenger")
    assert hook.best_run("fraud_detection", "holdout_auc").info.run_id == challenger.run_id
    assert hook.best_run("no_such_experiment", "holdout_auc") is None
    lineage = hook.version_lineage("fraud_detection", "challenger")
    assert lineage["version"] == challenger.version and lineage["lineage.run_id"] == run_id
    assert lineage["lineage.data.hash"] == challenger.tags["lineage.data.hash"]
    moved = hook.promote("fraud_detection", challenger.version, alias="blue")
    assert moved == {"model": "fraud_detection", "alias": "blue", "version": challenger.version, "previous": None}
    assert client.get_model_version_by_alias("fraud_detection", "blue").version == challenger.version
    second = client.create_model_version("fraud_detection", challenger.source, run_id=challenger.run_id,
                                         model_id=challenger.source.removeprefix("models:/"), await_creation_for=60)
    hook.promote("fraud_detection", challenger.version)
    moved = hook.promote("fraud_detection", second.version)
    assert moved["previous"] == challenger.version
    assert client.get_model_version_by_alias("fraud_detection", "previous_champion").version == challenger.version
    assert client.get_model_version_by_alias("fraud_detection", "champion").version == second.version


def test_a_run_without_fresh_features_does_not_train(dag_run, services, tmp_path):
    """New rows land in a partition after the features were computed: training waits for fresh features and, past
    its wait limit, fails naming the stale days, without training."""
    layout, _ = services
    _, env = services
    configs = tmp_path / "configs"
    configs.mkdir()
    raw = (config_dir() / "fraud_detection.yaml").read_text()
    (configs / "fraud_detection.yaml").write_text(raw.replace("wait_timeout_minutes: 60", "wait_timeout_minutes: 0.01"))
    late = layout.lake / "transactions" / DAY.isoformat() / "part-late.parquet"

    pl.read_parquet(layout.lake / "transactions" / DAY.isoformat() / "part-00000.parquet").head(5).with_columns(
        pl.format("late-{}", pl.int_range(5)).alias("transaction_id")).write_parquet(late)
    try:
        env = {**env, "ML_PIPELINE_CONFIG_DIR": str(configs), "ML_PIPELINE_RULES_DIR": str(config_dir().parent)}
        script = RUN_DAG.replace("sys.exit(0 if run.state == \"success\" else 1)", "")
        script += "print('STATES', {ti.task_id: ti.state for ti in run.get_task_instances()})\n"
        result = subprocess.run([sys.executable, "-c", script, "ml_training_fraud_detection"], env=env,
                                capture_output=True, text=True, timeout=900)
    finally:
        late.unlink()
    output = result.stdout + result.stderr
    states = ast.literal_eval(next(line for line in result.stdout.splitlines() if line.startswith("STATES "))[7:])
    assert states["wait_for_features"] == "failed"
    assert states["engineer_features"] == states["train_model"] == "upstream_failed"
    assert f"{DAY} card_windows: " in output and "changed since" in output
    assert "Run (or fix) feature_engineering_fraud_detection, then clear this task." in output
