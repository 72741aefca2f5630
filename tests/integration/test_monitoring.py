"""The monitoring DAG with ``dag.test()`` against a real MLflow server, PostgreSQL and real alert sinks.

One champion's days, in order: a stable day produces a stored check and nothing else; a drifted day (amounts
inflated) alerts on Slack and e-mail naming the features, stores a report with charts in the lake and in MLflow,
and queues a retraining (the asset event, and the training DAG queued by Airflow); a second drifted day inside the
cooldown alerts again but requests no second retraining; the same data again is not judged twice. Concept drift
(same inputs, different fraud) moves no input feature, but decay catches it and requests a retraining.
"""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.drift_scenarios import scenario_named
from ml_pipeline.data.generator import generate_dataset, generate_day, write_day
from ml_pipeline.data.lake import join_uri
from ml_pipeline.monitoring.history import MonitoringHistory
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training import run_in_process
from ml_pipeline.registry import mlflow_registry as registry
from ml_platform import database
from ml_platform.alert_sinks import read_alerts
from tests.support.services import alert_sinks

pytestmark = pytest.mark.integration
MODEL, CONCEPT = "fraud_watch", "fraud_concept"
TRAINED_THROUGH = dt.date(2026, 11, 14)
STABLE, DRIFTED, DRIFTED_AGAIN = (TRAINED_THROUGH + dt.timedelta(days=n) for n in (1, 2, 3))
ROWS = 6000
RUN_DAG = """
import datetime as dt, json, sys
from ml_pipeline_airflow.dag_kinds import MONITORING, build_dags
dag = build_dags(MONITORING)[sys.argv[1]]
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]))
states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
from airflow.utils.session import create_session
with create_session() as session:
    events = [e.extra for e in session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
              .filter(AssetModel.name == sys.argv[3]).order_by(AssetEvent.id)]
    queued = sorted(q.target_dag_id for q in session.query(AssetDagRunQueue))
print("RESULT", json.dumps({"states": states, "events": events, "queued": queued, "run": run.run_id}))
"""


def write_config(folder: Path, name: str, dataset: str, **monitoring) -> Path:
    """The fraud config as ``name`` on the test's ``dataset``."""
    config = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())
    config.update(model_name=name, schedule=None)
    config["data"]["source"] = f"s3://ml-data/{dataset}/"
    config["data"]["lookback_days"] = 4
    config["deployment"] = {"min_auc_threshold": 0.6}
    config["monitoring"] = {**config["monitoring"], "min_labelled_rows": 300, **monitoring}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def stack(services, tmp_path_factory):
    """Four stable days, a champion trained on them (with its lineage), alert sinks, the env of ``dag.test()``."""
    layout, env = services
    home = tmp_path_factory.mktemp("monitoring")
    (home / "configs").mkdir()
    path = write_config(home / "configs", MODEL, "watch_transactions")
    write_config(home / "configs", CONCEPT, "concept_transactions")  # its own days: no drifted history before
    dataset = join_uri(layout.lake.as_uri(), "watch_transactions")
    generate_dataset(dataset, TRAINED_THROUGH, days=4, rows_per_day=ROWS, seed=21)
    generate_dataset(join_uri(layout.lake.as_uri(), "concept_transactions"), TRAINED_THROUGH, days=1,
                     rows_per_day=ROWS, seed=21)
    ctx = RunContext(load_model_config(path), path, TRAINED_THROUGH, layout.lake.as_uri(), layout.mlflow_url,
                     "in_process_watch", "train-1", uri_map={"s3://ml-data": layout.lake.as_uri()})
    version = run_in_process(ctx)["version"]
    client = MlflowClient(layout.mlflow_url)
    client.set_registered_model_alias(MODEL, registry.CHAMPION, version)
    # the same trained model, registered under a second name (with the same lineage): concept drift's champion
    source = client.get_model_version(MODEL, version)
    client.create_registered_model(CONCEPT)
    copy = client.create_model_version(CONCEPT, source.source, source.run_id, tags=source.tags,
                                       model_id=source.source.removeprefix("models:/"))
    client.set_registered_model_alias(CONCEPT, registry.CHAMPION, copy.version)
    with alert_sinks(home / "alerts.jsonl") as alert_connections:
        test_env = {**env, "ML_PIPELINE_CONFIG_DIR": str(home / "configs"), **alert_connections,
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False"}
        yield {"layout": layout, "env": test_env, "home": home, "dataset": dataset, "version": version,
               "client": client, "history": MonitoringHistory(database.database_url(layout, "ml_platform"))}


def land(stack: dict, day: dt.date, scenario: str | None = None, dataset: str | None = None) -> None:
    write_day(generate_day(day, ROWS, seed=21, drift=scenario_named(scenario) if scenario else None),
              dataset or stack["dataset"], day)


def monitor(stack: dict, model: str, day: dt.date) -> dict:
    """Run the model's monitoring DAG once for ``day`` in a fresh process: task states, asset events, queued DAGs."""
    result = subprocess.run([sys.executable, "-c", RUN_DAG, f"model_monitoring_{model}",
                             f"{day.isoformat()}T12:00:00+00:00", f"{model}_retrain_requested"],
                            env=stack["env"], capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, out[-5000:]
    return {**json.loads(lines[-1][7:]), "out": out}


def alerts_for(stack: dict, model: str) -> list[dict]:
    return [a for a in read_alerts(stack["home"] / "alerts.jsonl") if model in json.dumps(a)]


def test_a_stable_day_is_recorded_and_nothing_else_happens(stack):
    land(stack, STABLE)
    result = monitor(stack, MODEL, STABLE)
    states = result["states"]
    assert states["record_check"] == "success", result["out"][-5000:]
    assert states["send_alert"] == "skipped" and states["request_retraining"] == "skipped"
    [check] = stack["history"].checks(MODEL)
    assert check.status in ("stable", "warn") and not check.drifted and not check.decayed, check.reason
    assert check.version == stack["version"] and check.rows > 5000
    assert set(check.features) == set(load_model_config(stack["home"] / "configs" / f"{MODEL}.yaml").data.features)
    methods = {name: f["method"] for name, f in check.features.items()}
    assert methods == {"amount": "psi_quantile", "merchant_category": "psi_categorical",
                       "transaction_count_1h": "psi_quantile", "transaction_avg_24h": "psi_quantile",
                       "category_avg_amount_24h": "wasserstein_normed"}  # the fraud config's choice for it
    assert check.live["status"] == "ok" and check.live["rows"] > 300, check.live
    assert result["events"] == [] and alerts_for(stack, MODEL) == []


def test_a_drifted_day_alerts_on_both_channels_reports_and_requests_a_retraining(stack):
    land(stack, DRIFTED, "amount-inflation")
    result = monitor(stack, MODEL, DRIFTED)
    states = result["states"]
    assert states["send_alert"] == "success" and states["request_retraining"] == "success", result["out"][-5000:]
    check = stack["history"].checks(MODEL)[-1]
    assert check.status == "alert" and check.drifted and check.retrain_cause == "drift" and check.retrain_requested
    assert check.features["amount"]["status"] == "alert" and check.drift_share >= 0.3
    # the report: JSON and HTML with a chart per drifted feature, in the lake and in MLflow
    html = Path(check.report_uri.removeprefix("file://")).read_text()
    assert "amount" in html and html.count("<svg") >= 2
    client = stack["client"]
    run_id = client.get_model_version(MODEL, stack["version"]).tags["monitoring.last_run"]
    artifacts = {a.path for a in client.list_artifacts(run_id, "monitoring")}
    assert artifacts == {"monitoring/report.html", "monitoring/report.json"}
    assert client.get_run(run_id).data.metrics["psi.amount"] == pytest.approx(check.features["amount"]["score"])
    # Slack and e-mail, naming the model, the version and the drifted feature with its score and threshold
    slack = [a for a in alerts_for(stack, MODEL) if a["channel"] == "slack"]
    email = [a for a in alerts_for(stack, MODEL) if a["channel"] == "email"]
    assert len(slack) == 1 and len(email) == 1, alerts_for(stack, MODEL)
    text = slack[0]["text"]
    assert f"*{MODEL}* v{stack['version']}: drift" in text and "`amount` psi_quantile" in text
    assert "alert 0.2" in text and check.report_uri in text
    assert "amount" in email[0]["subject"]
    # the retraining request: an asset event carrying its cause, and Airflow queues the model's training on it
    [event] = result["events"]
    assert event["trigger"] == "drift" and event["days"] == [DRIFTED.isoformat()]
    assert f"ml_training_{MODEL}" in result["queued"]


def test_a_second_drifted_day_in_the_cooldown_alerts_but_does_not_retrain_again(stack):
    land(stack, DRIFTED_AGAIN, "amount-inflation")
    result = monitor(stack, MODEL, DRIFTED_AGAIN)
    states = result["states"]
    assert states["send_alert"] == "success" and states["request_retraining"] == "skipped", result["out"][-5000:]
    check = stack["history"].checks(MODEL)[-1]
    assert check.status == "alert" and check.retrain_cause == "drift" and not check.retrain_requested
    assert len(result["events"]) == 1  # still only the first request
    assert "cooldown" in result["out"]
    # the same data again: not judged twice (an hourly schedule over a daily partition would alert every hour)
    again = monitor(stack, MODEL, DRIFTED_AGAIN)
    last = stack["history"].checks(MODEL)[-1]
    assert last.status == "skipped" and "no new data" in last.reason
    assert again["states"]["send_alert"] == "skipped"
    assert len([a for a in alerts_for(stack, MODEL) if a["channel"] == "slack"]) == 2


def test_concept_drift_moves_no_input_but_decay_catches_it_and_retrains(stack):
    concept_day = STABLE  # the day after the champion's training data, on the concept model's own dataset
    land(stack, concept_day, "fraud-pattern", join_uri(stack["layout"].lake.as_uri(), "concept_transactions"))
    result = monitor(stack, CONCEPT, concept_day)
    states = result["states"]
    assert states["request_retraining"] == "success", result["out"][-5000:]
    check = stack["history"].checks(CONCEPT)[-1]
    assert not check.drifted and all(f["status"] != "alert" for f in check.features.values()), check.features
    assert check.decayed and check.retrain_cause == "decay" and check.status == "alert"
    assert check.live["auc"] < check.live["baseline_auc"] - 0.05
    [event] = result["events"]
    assert event["trigger"] == "decay"


def test_the_monitor_command_shows_the_trend_and_the_last_retraining(stack):
    env = {**stack["env"], **stack["layout"].port_env()}
    out = subprocess.run([str(Path(sys.executable).parent / "ml-pipeline"), "monitor", MODEL], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert f"{MODEL}: champion v{stack['version']}" in out.stdout
    amount = next(line for line in out.stdout.splitlines() if line.startswith("amount "))
    assert "alert" in amount and len(amount.split()[-1]) == 3  # one trend mark per judged check
    assert "last retraining request:" in out.stdout and "for drift" in out.stdout


def test_a_reference_gone_from_the_lake_is_one_named_error_and_one_alert(stack):
    gone = "fraud_gone"
    write_config(stack["home"] / "configs", gone, "watch_transactions")
    client = stack["client"]
    source = client.get_model_version(MODEL, stack["version"])
    snapshot = stack["home"] / "deleted-snapshot.parquet"
    tags = {**source.tags, "lineage.data.snapshot_uri": snapshot.as_uri()}  # a snapshot nobody can read any more
    client.create_registered_model(gone)
    version = client.create_model_version(gone, source.source, source.run_id, tags=tags,
                                          model_id=source.source.removeprefix("models:/")).version
    client.set_registered_model_alias(gone, registry.CHAMPION, version)
    first = monitor(stack, gone, DRIFTED_AGAIN)
    assert first["states"]["load_reference"] == "failed", first["out"][-3000:]
    assert "is gone from the lake" in first["out"] and snapshot.as_uri() in first["out"]
    [error] = stack["history"].checks(gone)
    assert error.status == "error" and error.version == version and "Restore the file" in error.reason
    def alerted() -> list[dict]:
        return [a for a in alerts_for(stack, gone) if a["channel"] == "slack" and "load_reference" in a["text"]]

    assert len(alerted()) == 1, alerts_for(stack, gone)
    second = monitor(stack, gone, DRIFTED_AGAIN)  # still gone: said in the log, not alerted again
    assert second["states"]["load_reference"] == "skipped", second["out"][-3000:]
    assert "still no reference for v" in second["out"] and len(alerted()) == 1
