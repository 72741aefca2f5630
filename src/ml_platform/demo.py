"""``make demo``: start the platform and take a model from generated data to answering over HTTP.

It generates data, computes fraud features through Airflow's API, follows the training run that the features' asset
starts and the deployment its new challenger starts, and ends with the model answering over HTTP.

It starts the platform through ``ml_platform.lifecycle`` (as ``ml-platform up`` does) and names the DAGs as the DAG
kinds do (``ml_pipeline_airflow.dag_ids``, free of Airflow imports).
"""

from __future__ import annotations

import datetime as dt
import functools
import time
from typing import NamedTuple

from ml_platform import lifecycle
from ml_platform.airflow_api import AirflowClient
from ml_platform.clients import airflow_client
from ml_platform.layout import Layout

MODEL = "fraud_detection"
ENDPOINT = "fraud-detection-api"
DEMO_DAYS = 7
RUN_TIMEOUT_S = 1800
PLATFORM_HEALTH_DAG = "monitoring_ml_pipelines"

say = functools.partial(print, flush=True)


class DagIds(NamedTuple):
    """The ids of one model's DAGs that the demo drives."""

    features: str
    training: str
    deployment: str
    monitoring: str


def dag_ids(model: str = MODEL) -> DagIds:
    """The model's feature, training, deployment and monitoring DAG ids, as the DAG kinds name them."""
    from ml_pipeline_airflow.dag_ids import DEPLOYMENT, FEATURES, MONITORING, TRAINING, dag_id

    return DagIds(*(dag_id(prefix, model) for prefix in (FEATURES, TRAINING, DEPLOYMENT, MONITORING)))


def run_demo(layout: Layout, rows_per_day: int) -> int:
    """The whole demo; returns the process exit code."""
    started = time.monotonic()
    platform = lifecycle.start(layout, on_progress=say)
    print(platform.describe())
    if not platform.healthy:
        return 1
    today = dt.datetime.now(dt.UTC).date()
    print(f"\ngenerating {DEMO_DAYS} days x {rows_per_day:,} transactions ending {today} ...", flush=True)
    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri

    generate_dataset(join_uri(layout.lake.as_uri(), "transactions"), today, DEMO_DAYS, rows_per_day)
    ids = dag_ids()
    client = airflow_client(layout)
    try:
        client.wait_for_dag(ids.features)
        client.wait_for_dag(ids.training)
        client.wait_for_dag(ids.deployment)
        client.unpause(ids.training)  # its schedule: the feature asset (and 02:00 as the daily guarantee)
        client.unpause(ids.deployment)  # its schedule: each new challenger training registers
        known, known_deployments = client.run_ids(ids.training), client.run_ids(ids.deployment)
        features = client.trigger(ids.features, dt.datetime.now(dt.UTC).isoformat())
        print(f"triggered {ids.features} run {features['dag_run_id']} through the REST API", flush=True)
        if _follow(client, ids.features, features["dag_run_id"]) != "success":
            print_failures(client, ids.features, features["dag_run_id"], layout)
            return 1
        run = client.wait_for_new_run(ids.training, known, "asset_triggered", timeout=120)
        print(f"{ids.training} run {run['dag_run_id']} started by the feature asset's update", flush=True)
        state = _follow(client, ids.training, run["dag_run_id"])
        if state != "success":
            print_failures(client, ids.training, run["dag_run_id"], layout)
            return 1
        skipped = _trained_before(client, ids.training, run["dag_run_id"])
        if skipped:  # make demo again: the same data, config and code as a registered version
            print(f"training         nothing new to train: {skipped}\n"
                  f"                 (no champion yet? `ml-pipeline deployments {MODEL}` says why; trigger "
                  f"{ids.training} by hand to train and deploy a new version)", flush=True)
            summary = deployment = None
        else:
            summary = client.xcom(ids.training, run["dag_run_id"], "send_notification")
            deployment = follow_deployment(client, known_deployments, dag_id=ids.deployment)
            if deployment["outcome"] == "failed":
                print_failures(client, ids.deployment, deployment["run_id"], layout)
                return 1
        for hourly in (ids.features, ids.monitoring):  # from now on new data is featured, the champion watched
            client.wait_for_dag(hourly)
            client.unpause(hourly)
        client.wait_for_dag(PLATFORM_HEALTH_DAG)  # the platform watches itself every 30 min: measure once now
        client.trigger(PLATFORM_HEALTH_DAG, None)
    finally:
        client.close()
    if summary is not None:
        _print_summary(layout, summary, platform.admin_user, time.monotonic() - started)
    return _print_serving(layout, deployment)


def _trained_before(client: AirflowClient, dag_id: str, run_id: str) -> str | None:
    """Why the training run trained nothing (a version already learned its inputs), from its log; else None."""
    import re

    [train] = [ti for ti in client.task_instances(dag_id, run_id) if ti["task_id"] == "train_model"]
    if train["state"] != "skipped":
        return None
    log = client.task_log(dag_id, run_id, "train_model", max(train.get("try_number") or 1, 1))
    found = re.search(r"\w+ v\d+ already learned exactly these inputs.*", log)
    return found.group(0) if found else "a version already learned exactly these inputs (train_model's log says which)"


def follow_deployment(client: AirflowClient, known: set[str], timeout: float = 900.0,
                      dag_id: str | None = None) -> dict:
    """Follow the new challenger's deployment run until production is verified, it is rejected, or a step fails.

    Once production is verified, the run's watch window waits for tomorrow's data on the triggerer.

    Args:
        client: The platform's Airflow REST client.
        known: Run ids of the deployment DAG from before the challenger registered.
        timeout: Seconds to follow the run.
        dag_id: The deployment DAG (default: the demo model's).

    Returns:
        ``run_id``, ``outcome`` (promoted, rejected or failed) and the ``evaluation`` the run made.
    """
    dag_id = dag_id or dag_ids().deployment
    run = client.wait_for_new_run(dag_id, known, "asset_triggered", timeout=120)
    print(f"{dag_id} run {run['dag_run_id']} started by the new challenger", flush=True)
    t0, seen = time.monotonic(), {}
    while time.monotonic() - t0 < timeout:
        states = {ti["task_id"]: ti["state"] for ti in client.task_instances(dag_id, run["dag_run_id"])}
        for task_id, state in states.items():
            if seen.get(task_id) != state:
                seen[task_id] = state
                print(f"  [{time.monotonic() - t0:6.1f}s] {task_id:<32} {state or 'none'}", flush=True)
        run_state = client.run(dag_id, run["dag_run_id"])["state"]
        outcome = ("promoted" if states.get("verify_production") == "success" else
                   "rejected" if states.get("check_gates") == "success" and states.get("run_canary") == "skipped"
                   else "failed" if run_state == "failed" else None)
        if outcome:
            evaluation = client.xcom(dag_id, run["dag_run_id"], "evaluate_challenger")
            return {"run_id": run["dag_run_id"], "outcome": outcome, "evaluation": evaluation}
        time.sleep(2)
    return {"run_id": run["dag_run_id"], "outcome": "failed", "evaluation": None}


def _print_serving(layout: Layout, deployment: dict | None) -> int:
    """Say what the deployment decided (if one ran), then ask the endpoint for a prediction, as a user would."""
    import json

    from ml_pipeline.deployment.client import ServingClient, ServingError

    if deployment is not None:
        evaluation = deployment["evaluation"]
        decision = evaluation["decision"]
        print(f"deployment       v{evaluation['challenger']['version']} {deployment['outcome']}: "
              f"{decision['reason']} (holdout {', '.join(evaluation['holdout']['days'])}, "
              f"`ml-pipeline deployments {MODEL}`)")
    _, port = layout.serving_endpoints()[ENDPOINT]
    url = f"http://127.0.0.1:{port}"
    row = {"amount": 912.5, "merchant_category": "electronics", "transaction_count_1h": 4,
           "transaction_avg_24h": 88.0, "category_avg_amount_24h": 120.0}
    try:
        answer = ServingClient(url).predict([row])
    except ServingError as exc:
        print(f"serving          {url} did not answer: {exc}")
        return 1
    print(f"serving          {url} serves v{answer['version']}; try it:\n"
          f"  curl -s {url}/version\n"
          f"  curl -s -X POST {url}/predict -H 'Content-Type: application/json' -d '{json.dumps({'rows': [row]})}'\n"
          f"  → {json.dumps(answer)}\n"
          f"monitoring       hourly: `ml-pipeline monitor {MODEL}`; README \"Monitoring\" lands a drifted day\n"
          f"lineage          `ml-pipeline lineage {MODEL} {answer['version']}` (data → model → endpoint); "
          f"`ml-pipeline reproduce {MODEL} {answer['version']}` rebuilds it\n"
          f"dashboard        {layout.airflow_url}/ml-platform/ (in the Airflow UI's navigation; `make status`)\n"
          "stop with `make down`")
    return 0


def _follow(client: AirflowClient, dag_id: str, run_id: str) -> str:
    """Print task states as they change until the run finishes; return its final state."""
    t0 = time.monotonic()

    def show(elapsed: float, ti: dict) -> None:
        label = ti["task_id"] + (f"[{ti['rendered_map_index'] or ti['map_index']}]" if ti["map_index"] >= 0 else "")
        print(f"  [{elapsed:6.1f}s] {label:<32} {ti['state'] or 'none'}", flush=True)

    state = client.wait_for_run(dag_id, run_id, RUN_TIMEOUT_S, on_task_change=show)
    print(f"run {state} after {time.monotonic() - t0:.1f}s")
    return state


def print_failures(client: AirflowClient, dag_id: str, run_id: str, layout: Layout | None = None) -> None:
    """Print the log tail of each failed task of a run, and the alerts the local sinks received about it."""
    for ti in client.task_instances(dag_id, run_id):
        if ti["state"] in ("failed", "up_for_retry") and ti.get("try_number"):
            text = client.task_log(dag_id, run_id, ti["task_id"], ti["try_number"])
            tail = "\n".join(text.splitlines()[-40:])
            print(f"\n--- {ti['task_id']} failed (try {ti['try_number']}); log tail ---\n{tail}")
    if layout is not None:
        print_alerts(layout, run_id)


def print_alerts(layout: Layout, run_id: str, wait_s: float = 10.0) -> None:
    """Print the Slack messages and emails about ``run_id`` that the local sinks received."""
    from ml_platform.alert_sinks import read_alerts

    deadline = time.monotonic() + wait_s
    while True:
        received = [a for a in read_alerts(layout.alerts_file) if run_id in a.get("text", "") + a.get("subject", "")]
        if len(received) >= 2 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for alert in received:
        body = alert.get("text", "") if alert["channel"] == "slack" else alert.get("subject", "")
        print(f"\n--- alert received by the local {alert['channel']} sink at {alert['received_at'][11:19]} ---\n{body}")
    if received:
        print("\n(`ml-pipeline alerts` lists every alert; `ml-pipeline dlq list` the failed tasks to replay)")


def _print_summary(layout: Layout, s: dict, admin_user: str, wall_s: float) -> None:
    """The demo's closing summary: the data, the metrics, the registered model and where to look at them."""
    m = s["metrics"]
    first, last = s["partitions"][0], s["partitions"][-1].rsplit("/", 1)[-1]
    lines = [
        f"=== fraud detection: demo done in {wall_s:.0f}s (platform start, data, features, training, deployment) ===",
        f"rows used        {s['rows']:,} from {len(s['partitions'])} daily partitions ({first} … {last})",
        f"holdout metrics  AUC {m['auc']:.4f} · precision {m['precision']:.4f} · recall {m['recall']:.4f}"
        f" · F1 {m['f1']:.4f} ({m['rows']:,} rows)",
        f"model            {s['model_name']} version {s['version']} registered as challenger",
        f"data snapshot    {s['snapshot_uri']} (sha256 {s['data_hash'][:16]}…)",
        f"model artifacts  {s['model_uri']} (MLflow run {s['mlflow_run_id']}, files under {layout.mlflow_artifacts})",
        f"Airflow UI       {layout.airflow_url}/dags/{s['dag_id']}"
        f"  (user '{admin_user}', password in {layout.secrets_file})",
        f"MLflow UI        {layout.mlflow_url}/#/models/{s['model_name']}/versions/{s['version']}  (user 'admin', "
        "password: mlflow_admin_password in the same file)",
    ]
    print("\n" + "\n".join(lines))
