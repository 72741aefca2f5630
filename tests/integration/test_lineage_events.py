"""OpenLineage events from real DAG runs (``dag.test()``, the provider's listener, a file transport), and the
platform's receiver storing events in PostgreSQL and refusing a bad token.

The feature and training DAGs of ``fraud_detection`` run on the integration suite's PostgreSQL and MLflow, on a lake
of this module's own (the events count its partitions and rows); the transport writes JSON lines to a temporary file,
as the Airflow system tests of the OpenLineage provider capture events. The events must connect partition →
snapshot → MLflow run → model version, each dataset named the same on both sides of each step.
"""

import datetime as dt
import json
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from ml_pipeline.lineage.naming import dataset_key
from ml_pipeline.lineage.store import read_event_file
from tests.integration.test_training_dag import RUN_DAG
from tests.support import lineage_events as ev
from tests.support.dashboard import fresh_database
from tests.support.services import on_own_lake

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 20)
TRAINING, FEATURES = "ml_training_fraud_detection", "feature_engineering_fraud_detection"


def run_dag_test(env: dict, dag_id: str, log) -> str:
    """Run ``dag.test()`` for one generated DAG in a fresh process; return the run id (its output goes to ``log``)."""
    result = subprocess.run([sys.executable, "-c", RUN_DAG, dag_id], env=env, capture_output=True, text=True,
                            timeout=900)
    log.write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    # the provider's DAG-run events are sent after the run's last line: find it, do not take the last one
    return next(line for line in reversed(result.stdout.splitlines()) if line.startswith("RUN ")).split()[1]


@pytest.fixture(scope="module")
def events(services, tmp_path_factory):
    """The feature DAG's then the training DAG's events, on a lake (and feature store) of this module's own."""
    layout, env = services
    events_file = tmp_path_factory.mktemp("lineage") / "events.jsonl"
    lake = events_file.parent / "lake"
    transport = {"type": "file", "log_file_path": str(events_file), "append": True}
    env = {**on_own_lake(env, lake), "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport)}
    generate_dataset(join_uri(lake.as_uri(), "transactions"), DAY, days=7, rows_per_day=2_000)
    run_dag_test(env, FEATURES, events_file.with_name("features.log"))
    run_id = run_dag_test(env, TRAINING, events_file.with_name("training.log"))
    challenger = MlflowClient(layout.mlflow_url).get_model_version_by_alias("fraud_detection", "challenger")
    return read_event_file(events_file), run_id, challenger


def ours(events: list[dict], dag_id: str) -> dict[str, dict]:
    """Our RUNNING events (with the mlPlatform run facet) of one DAG, by task id (the last one of each)."""
    return {e["job"]["name"].split(".", 1)[1]: e for e in events if e["eventType"] == "RUNNING"
            and "mlPlatform" in e["run"]["facets"] and e["job"]["name"].startswith(f"{dag_id}.")}


def keys(datasets: list[dict], kind: str | None = None) -> list[str]:
    return [dataset_key(d["namespace"], d["name"]) for d in datasets
            if kind is None or d["facets"]["mlPlatform"]["kind"] == kind]


def test_training_events_connect_partitions_snapshot_run_and_version(events):
    captured, run_id, challenger = events
    tasks = ours(captured, TRAINING)
    assert {"load_data", "validate_data", "engineer_features", "train_model", "register_model"} <= set(tasks)
    partitions = keys(tasks["load_data"]["inputs"], "partition")
    assert len(partitions) == 7 and partitions[-1].endswith("/transactions/2026-11-20")
    (snapshot,) = tasks["load_data"]["outputs"]
    assert snapshot["facets"]["version"]["datasetVersion"] == challenger.tags["lineage.data.hash"]
    assert snapshot["outputFacets"]["outputStatistics"]["rowCount"] == 14_000
    assert {f["name"] for f in snapshot["facets"]["schema"]["fields"]} >= {"amount", "is_fraud"}
    snapshot_key = keys([snapshot])[0]
    assert keys(tasks["validate_data"]["inputs"]) == [snapshot_key]
    assert len(keys(tasks["validate_data"]["outputs"], "validation_report")) == 7
    assert snapshot_key in keys(tasks["engineer_features"]["inputs"])
    (features,) = keys(tasks["engineer_features"]["outputs"], "features")
    assert keys(tasks["train_model"]["inputs"]) == [snapshot_key, features]
    (mlflow_run,) = keys(tasks["train_model"]["outputs"], "mlflow_run")
    assert mlflow_run.endswith(f"/runs/{challenger.run_id}")
    assert keys(tasks["register_model"]["inputs"]) == [mlflow_run]
    assert keys(tasks["register_model"]["outputs"], "model_version") == [
        mlflow_run.rsplit("/runs/", 1)[0] + f"/models/fraud_detection/{challenger.version}"]
    facet = tasks["register_model"]["run"]["facets"]["mlPlatform"]
    assert (facet["dag_id"], facet["run_id"], facet["model"]) == (TRAINING, run_id, "fraud_detection")
    assert facet["git_commit"] == challenger.tags["lineage.code.git_commit"]
    assert facet["config_hash"] == load_model_config(config_dir() / "fraud_detection.yaml").content_hash()
    assert facet["trigger"] == "manual"


def test_the_feature_dag_connects_the_same_partitions_to_the_views_training_reads(events):
    captured, _, _ = events
    features, training = ours(captured, FEATURES), ours(captured, TRAINING)
    computed = [e for e in captured if e["job"]["name"] == f"{FEATURES}.compute_features" and e["inputs"]
                and "mlPlatform" in e["run"]["facets"]]
    assert len(computed) == 7
    read = {key for e in computed for key in keys(e["inputs"], "partition")}
    assert set(keys(training["load_data"]["inputs"], "partition")) <= read  # the same names on both sides
    offline = {key for e in computed for key in keys(e["outputs"], "offline_features")}
    assert set(keys(features["write_to_feature_store"]["inputs"])) == offline
    views = keys(features["write_to_feature_store"]["outputs"], "feature_view")
    assert views and set(views) <= set(keys(training["engineer_features"]["inputs"], "feature_view"))


def test_the_providers_own_events_share_the_task_runs_id(events):
    captured, _, _ = events
    load = ours(captured, TRAINING)["load_data"]
    states = {e["eventType"] for e in captured if e["run"]["runId"] == load["run"]["runId"]}
    assert {"START", "RUNNING", "COMPLETE"} <= states
    assert load["job"]["namespace"] == "ml-platform"  # AIRFLOW__OPENLINEAGE__NAMESPACE of the platform


@pytest.fixture
def receiver(monkeypatch):
    """The receiver app on a database of its own on 127.0.0.1:5432 (schema created), with a known token."""
    from fastapi.testclient import TestClient

    from ml_pipeline.stores.schema import create_schema
    from ml_pipeline_airflow.lineage import receiver as module

    with fresh_database("mltest_receiver") as url:
        create_schema(url)
        monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", url.replace("+psycopg2", ""))
        monkeypatch.setenv(module.TOKEN_ENV, "s3cret-token")
        module.lineage_store.cache_clear()
        yield TestClient(module.create_app()), module
        module.lineage_store().engine.dispose()
        module.lineage_store.cache_clear()


def test_the_receiver_stores_events_and_batches_once_and_refuses_a_bad_token(receiver):
    client, module = receiver
    url, auth = module.PATH, {"Authorization": "Bearer s3cret-token"}
    history = ev.history()
    assert client.post(url, json=history[0], headers=auth).json() == {"stored": 1}
    assert client.post(url, json=history, headers=auth).json() == {"stored": len(history)}  # history[0] again: once
    store = module.lineage_store()
    assert store.count() == len(history)
    assert canonical(store.events()) == canonical(history)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        refused = client.post(url, json=history[0], headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    bad = client.post(url, json={**history[0], "run": {}}, headers=auth)
    assert bad.status_code == 400 and "run.runId" in bad.json()["detail"]
    assert client.post(url, content=b"{not json", headers=auth).status_code == 400
    assert client.post(url, json=[history[0], {"eventType": "START"}], headers=auth).json()["detail"].startswith(
        "event 1: not an OpenLineage run event")
    oversized = b"[" + b" " * module.MAX_BODY_BYTES + b"]"
    assert client.post(url, content=oversized, headers=auth).status_code == 413
    assert store.count() == len(history)


def test_without_a_configured_token_every_request_is_refused(receiver, monkeypatch):
    client, module = receiver
    monkeypatch.setenv(module.TOKEN_ENV, "")
    assert client.post(module.PATH, json=ev.history()[0], headers={"Authorization": "Bearer "}).status_code == 401
    assert module.lineage_store().count() == 0


def canonical(events: list[dict]) -> list[str]:
    """Events as sorted canonical JSON: the same events whatever their order and their keys' order."""
    return sorted(json.dumps(e, sort_keys=True) for e in events)
