"""The deployment DAG with ``dag.test()`` against a real MLflow server, PostgreSQL and real model servers.

One model's story, in order: a first challenger is promoted and served over HTTP; a worse one is rejected with
the gate's numbers; a better one passes its canary and replaces the champion; a broken one is rolled back while
a client hammers production (no request may fail); a manual rollback goes through the same verified path.
"""

import contextlib
import datetime as dt
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline.config import config_dir
from ml_pipeline.data.generator import generate_dataset, generate_day, write_day
from ml_pipeline.data.lake import join_uri
from ml_pipeline.data.loader import load_partitions
from ml_pipeline.deployment.client import ServingClient, free_port, running_server
from ml_pipeline.deployment.history import DeploymentHistory
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.failures.dead_letters import DeadLetterStore
from ml_pipeline.features.registry import build_features
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.training.trainer import to_model_input, train_classifier
from ml_platform import database
from ml_platform.alert_sinks import read_alerts
from tests.support.services import alert_sinks

pytestmark = pytest.mark.integration
MODEL = "fraud_serving"
ENDPOINT = "fraud-serving-api"
DAG_ID = f"model_deployment_{MODEL}"
LAST_DAY = dt.date(2026, 11, 21)
ADMIN_TOKEN = "deployment-test-admin-token"  # the server's ML_SERVING_ADMIN_TOKEN, the connection's password
XGBOOST = get_estimator("xgboost")
RUN_DAG = """
import json, sys
from ml_pipeline_airflow.dag_kinds import DEPLOYMENT, build_dags
dag = build_dags(DEPLOYMENT)[sys.argv[1]]
dag.deadline = None  # dag.test() of Airflow 3.3.2 crashes on DeadlineAlerts (docs/TROUBLESHOOTING.md)
run = dag.test(run_conf=json.loads(sys.argv[2]))
states = {ti.task_id: ti.state for ti in run.get_task_instances()}
print("STATES", json.dumps({k: str(v) for k, v in states.items()}))
print("RUN", run.run_id, run.state)
"""


def write_config(folder: Path, **deployment) -> None:
    """The fraud config as ``fraud_serving`` on its own dataset, with test-sized deployment settings."""
    config = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())
    config.update(model_name=MODEL, schedule=None)
    config["data"]["source"] = "s3://ml-data/deploy_transactions/"
    config["deployment"] = {"min_auc_threshold": 0.6, "endpoint_name": ENDPOINT, "holdout_days": 1,
                            "canary": {"requests": 8, "rows_per_request": 25},
                            "watch": {"window_days": 0}, **deployment}
    (folder / "fraud_serving.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def stack(services, tmp_path_factory):
    """Data, configs, a production model server and an alert sink, with the environment of ``dag.test()``."""
    layout, env = services
    home = tmp_path_factory.mktemp("deployment")
    (home / "configs").mkdir()
    write_config(home / "configs")
    dataset = join_uri(layout.lake.as_uri(), "deploy_transactions")
    generate_dataset(dataset, LAST_DAY, days=7, rows_per_day=4000, seed=7)
    train, _ = load_partitions(dataset, LAST_DAY - dt.timedelta(days=1), 6)
    features = yaml.safe_load((home / "configs" / "fraud_serving.yaml").read_text())["data"]["features"]
    port = free_port()
    with alert_sinks(home / "alerts.jsonl") as alert_connections, \
            running_server(MODEL, port, layout.mlflow_url, home / "serving.log", admin_token=ADMIN_TOKEN) as server:
        test_env = {**env, "ML_PIPELINE_CONFIG_DIR": str(home / "configs"), **alert_connections,
                    "AIRFLOW_CONN_SERVING_DEFAULT": json.dumps(
                        {"conn_type": "generic", "password": ADMIN_TOKEN,
                         "extra": {"endpoints": {ENDPOINT: f"http://127.0.0.1:{port}"}}})}
        yield {"layout": layout, "env": test_env, "home": home, "server": server,
               "prod": ServingClient(f"http://127.0.0.1:{port}", admin_token=ADMIN_TOKEN), "features": features,
               "train": build_features(train, features), "client": MlflowClient(layout.mlflow_url)}


def register(stack: dict, signature: bool = True, pickled: bool = False, **hyperparameters) -> str:
    """Train on the six days before the holdout day, log and register a version, alias it challenger."""
    import mlflow

    train, features, client = stack["train"], stack["features"], stack["client"]
    model = train_classifier(train, features, "is_fraud", hyperparameters, seed=1)
    if pickled:  # what an old script might log: pickle runs code when loaded, so nothing may load it
        mlflow.set_tracking_uri(stack["layout"].mlflow_url)
        with mlflow.start_run(experiment_id=registry.experiment_id(client, MODEL)) as run:
            uri = mlflow.sklearn.log_model(model, name="model", pip_requirements=["xgboost-cpu"],
                                           serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
                                           metadata={"model_type": "xgboost"}).model_uri
        run_id = run.info.run_id
    elif signature:
        run_id, uri = registry.log_training_run(
            stack["layout"].mlflow_url, MODEL, f"deploy-test-{time.time_ns()}", {}, hyperparameters, model,
            to_model_input(train.head(5), features), pip_requirements=["xgboost-cpu"])
    else:  # what a hand-made script might log: the weights load and score offline, but no input signature
        mlflow.set_tracking_uri(stack["layout"].mlflow_url)
        with mlflow.start_run(experiment_id=registry.experiment_id(client, MODEL)) as run:
            uri = mlflow.sklearn.log_model(model, name="model", pip_requirements=["xgboost-cpu"],
                                           skops_trusted_types=list(XGBOOST.trusted_types)).model_uri
        run_id = run.info.run_id
    version = registry.register_once(client, MODEL, run_id, uri, {}).version
    client.set_registered_model_alias(MODEL, registry.CHALLENGER, version)
    return version


def deploy(stack: dict, conf: dict) -> tuple[str, dict, str]:
    """Run the deployment DAG once in a fresh process: (run state, task states, output)."""
    result = subprocess.run([sys.executable, "-c", RUN_DAG, DAG_ID, json.dumps(conf)], env=stack["env"],
                            capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("RUN "), out[-5000:]
    states = json.loads(next(line for line in lines if line.startswith("STATES "))[7:])
    return lines[-1].split()[2], states, out


def champion(stack: dict) -> str | None:
    found = registry.alias_version(stack["client"], MODEL, registry.CHAMPION)
    return found.version if found else None


def history(stack: dict) -> list:
    return DeploymentHistory(database.database_url(stack["layout"], "ml_platform")).events(MODEL)


def test_a_first_challenger_is_promoted_and_served_over_http(stack):
    v1 = register(stack, max_depth=2, n_estimators=5, learning_rate=0.1)  # holdout auc ≈ 0.90
    state, states, out = deploy(stack, {"version": v1})
    assert state == "success", out[-5000:]
    assert states["run_canary"] == "success" and states["roll_back"] == "skipped"
    assert champion(stack) == v1
    served = stack["prod"].version()
    assert served["version"] == v1 and served["model"] == MODEL and served["run_id"]  # the token shows lineage
    rows = stack["train"].select(stack["features"]).head(3).to_dicts()
    answer = httpx.post(f"{stack['prod'].base_url}/predict", json={"rows": rows}, timeout=10).json()
    assert answer["version"] == v1 and len(answer["scores"]) == 3 and all(0 <= s <= 1 for s in answer["scores"])
    [event] = history(stack)
    assert (event.action, event.from_version, event.to_version) == ("promoted", None, v1)
    assert "first model" in event.reason and event.details["canary"]["errors"] == 0


def test_a_worse_challenger_is_rejected_with_the_gates_numbers(stack):
    v1 = champion(stack)
    v2 = register(stack, max_depth=1, n_estimators=2, learning_rate=0.05)  # ≈ 0.68
    state, states, out = deploy(stack, {"version": v2})
    assert state == "success" and states["run_canary"] == "skipped" and states["promote_challenger"] == "skipped"
    assert "challenger rejected: auc 0." in out and "does not beat the champion's" in out
    assert champion(stack) == v1 and stack["prod"].version()["version"] == v1
    event = history(stack)[-1]
    assert (event.action, event.to_version) == ("rejected", v2)
    assert event.details["decision"]["challenger_auc"] < event.details["decision"]["champion_auc"]


def test_a_better_challenger_passes_its_canary_and_replaces_the_champion(stack):
    v1 = champion(stack)
    v3 = register(stack, max_depth=3, n_estimators=30, learning_rate=0.1)  # ≈ 0.93
    state, states, out = deploy(stack, {"version": v3})
    assert state == "success", out[-5000:]
    assert champion(stack) == v3 and stack["prod"].version()["version"] == v3
    assert registry.alias_version(stack["client"], MODEL, registry.PREVIOUS_CHAMPION).version == v1
    event = history(stack)[-1]
    assert (event.action, event.from_version, event.to_version) == ("promoted", v1, v3)
    assert event.details["canary"]["max_score_diff"] <= 1e-6 and event.details["canary"]["requests"] == 8
    tags = stack["client"].get_model_version(MODEL, v3).tags
    assert tags["deployment.last_action"] == "promoted" and tags["deployment.last_run"].startswith(DAG_ID)


class Hammer(threading.Thread):
    """Sends /predict to production in a loop; counts answers per version and every failure."""

    def __init__(self, base_url: str, rows: list[dict]) -> None:
        super().__init__(daemon=True)
        self.base_url, self.rows, self.stop = base_url, rows, threading.Event()
        self.versions: dict[str, int] = {}
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self.stop.is_set():
                try:
                    response = client.post(f"{self.base_url}/predict", json={"rows": self.rows})
                    response.raise_for_status()
                    version = response.json()["version"]
                    self.versions[version] = self.versions.get(version, 0) + 1
                except Exception as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                time.sleep(0.02)


def test_a_challenger_that_fails_its_health_check_is_rolled_back_without_a_failed_request(stack):
    v3 = champion(stack)
    v4 = register(stack, signature=False, max_depth=4, n_estimators=100, learning_rate=0.05)  # ≈ 0.93
    write_config(stack["home"] / "configs", canary={"enabled": False})  # only production can catch it now
    hammer = Hammer(stack["prod"].base_url, stack["train"].select(stack["features"]).head(5).to_dicts())
    hammer.start()
    try:
        state, states, out = deploy(stack, {"version": v4})
    finally:
        hammer.stop.set()
        hammer.join(timeout=30)
        write_config(stack["home"] / "configs")
    assert state == "failed" and states["promote_challenger"] == "failed", out[-5000:]
    assert states["roll_back"] == "success" and states["fail_deployment"] == "failed", out[-5000:]
    print(f"rollback under load: {sum(hammer.versions.values())} requests, {len(hammer.failures)} failed, "
          f"versions served {hammer.versions}")
    assert hammer.failures == [] and set(hammer.versions) == {v3} and sum(hammer.versions.values()) > 50
    assert champion(stack) == v3 and stack["prod"].version()["version"] == v3
    assert registry.alias_version(stack["client"], MODEL, registry.PREVIOUS_CHAMPION).version != v4
    promoted, rolled = history(stack)[-2:]
    assert (promoted.action, promoted.to_version) == ("promoted", v4)
    assert (rolled.action, rolled.from_version, rolled.to_version) == ("rolled_back", v4, v3)
    assert f"did not take v{v4}" in rolled.reason and "without an input signature" in rolled.reason
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        alerts = [a for a in read_alerts(stack["home"] / "alerts.jsonl")
                  if f"rolled back v{v4} → v{v3}" in json.dumps(a, ensure_ascii=False)]
        if len(alerts) == 2:
            break
        time.sleep(0.5)
    assert {a["channel"] for a in alerts} == {"slack", "email"}
    letters = DeadLetterStore(database.database_url(stack["layout"], "ml_platform")).list(model=MODEL)
    assert letters == []  # rolled back cleanly: nothing for a human to replay


def test_a_manual_rollback_goes_through_the_same_verified_path(stack):
    v3 = champion(stack)
    previous = registry.alias_version(stack["client"], MODEL, registry.PREVIOUS_CHAMPION).version
    state, states, out = deploy(stack, {"action": "rollback", "reason": "bad reviews"})
    assert state == "success" and states["roll_back_by_hand"] == "success", out[-5000:]
    assert states["evaluate_challenger"] == "skipped"
    assert champion(stack) == previous and stack["prod"].version()["version"] == previous
    event = history(stack)[-1]
    assert (event.action, event.from_version, event.to_version) == ("rolled_back", v3, previous)
    assert event.reason == "manual rollback: bad reviews"
    state, _, out = deploy(stack, {"action": "rollback", "to_version": previous})
    assert state == "failed" and f"v{previous} of {MODEL} is already the champion" in out
    # a conf that names an unknown key (it would have deployed) fails the run before anything moves; the other
    # action's version is refused the same way (tests/unit/ml_pipeline_airflow/tasks/test_choose_action.py)
    state, states, out = deploy(stack, {"acton": "rollback"})
    assert (state, states["choose_action"]) == ("failed", "failed"), out[-5000:]
    assert "names 'acton' (did you mean 'action'?)" in out, out[-5000:]
    assert states["evaluate_challenger"] != "success" and champion(stack) == previous  # nothing moved


def test_a_champion_that_underperforms_on_new_data_is_rolled_back_by_the_watch(stack):
    before = champion(stack)
    write_config(stack["home"] / "configs", canary={"enabled": False},
                 watch={"window_days": 1, "poke_interval_seconds": 1, "timeout_hours": 1})
    v5 = register(stack, max_depth=3, n_estimators=40, learning_rate=0.1)
    next_day = LAST_DAY + dt.timedelta(days=1)
    dataset = join_uri(stack["layout"].lake.as_uri(), "deploy_transactions")

    def land_drifted_day_once_promoted() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if stack["prod"].version()["version"] == v5:
                    break
            time.sleep(0.2)
        day = generate_day(next_day, 4000, seed=11)  # fraud no longer looks like it did: labels shuffled
        write_day(day.with_columns(pl.col("is_fraud").shuffle(seed=3)), dataset, next_day)

    lander = threading.Thread(target=land_drifted_day_once_promoted, daemon=True)
    lander.start()
    try:
        state, states, out = deploy(stack, {"version": v5})
    finally:
        lander.join(timeout=60)
        write_config(stack["home"] / "configs")
    assert states["verify_production"] == "success" and states["watch_live_performance"] == "failed", out[-5000:]
    assert states["roll_back"] == "success" and state == "failed"
    assert champion(stack) == before and stack["prod"].version()["version"] == before
    rolled = history(stack)[-1]
    assert (rolled.action, rolled.from_version, rolled.to_version) == ("rolled_back", v5, before)
    assert f"v{v5} underperforms live: auc 0." in rolled.reason and next_day.isoformat() in rolled.reason


def test_a_watch_that_cannot_read_its_data_keeps_the_champion_and_says_what_to_fix(stack, tmp_path):
    """A lake that refuses to be read (here a partition that cannot be listed, as S3 refuses expired keys) is no
    verdict on the new champion: the watch fails at once (no waiting until its timeout), nothing is rolled back, the
    run fails, and the model's channels say what to fix and how to judge it afterwards."""
    write_config(stack["home"] / "configs", canary={"enabled": False},
                 watch={"window_days": 1, "poke_interval_seconds": 1, "timeout_hours": 1})
    v6 = register(stack, max_depth=3, n_estimators=40, learning_rate=0.1)  # the watch's last victim, retrained
    unreadable = stack["layout"].lake / "deploy_transactions" / (LAST_DAY + dt.timedelta(days=1)).isoformat()
    landed = unreadable.exists() and unreadable.rename(tmp_path / "landed")  # the watched day has not landed yet

    done = threading.Event()

    def break_the_window_once_promoted() -> None:
        while not done.wait(0.2):
            with contextlib.suppress(Exception):
                if stack["prod"].version()["version"] == v6:
                    unreadable.symlink_to(unreadable)  # listing it: "Too many levels of symbolic links"
                    return

    breaker = threading.Thread(target=break_the_window_once_promoted, daemon=True)
    breaker.start()
    try:
        state, states, out = deploy(stack, {"version": v6})
    finally:
        done.set()
        breaker.join(timeout=60)
        write_config(stack["home"] / "configs")
        unreadable.unlink(missing_ok=True)
        if landed:
            landed.rename(unreadable)
    assert states["verify_production"] == "success" and states["watch_live_performance"] == "failed", out[-5000:]
    assert states["roll_back"] == "skipped" and state == "failed"
    assert "Too many levels of symbolic links" in out and f"v{v6} stays champion, not judged" in out
    assert champion(stack) == v6 and stack["prod"].version()["version"] == v6
    promoted, unjudged = history(stack)[-2:]  # no rollback recorded: the watch's "no verdict" instead
    assert (promoted.action, promoted.to_version, unjudged.action, unjudged.to_version) == (
        "promoted", v6, "watch_unjudged", v6) and "Too many levels of symbolic links" in unjudged.reason
    deadline, warned = time.monotonic() + 15, []
    while len(warned) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
        warned = [a for a in read_alerts(stack["home"] / "alerts.jsonl")
                  if f"v{v6}: champion not judged by the watch (no rollback)" in json.dumps(a)]
    assert {a["channel"] for a in warned} == {"slack", "email"}
    assert "not judged (watch_live_performance in this run). Fix the lake's access or the window's files, then clear " \
           "the watch with its downstream tasks to judge it" in json.dumps(warned)


def test_a_pickled_challenger_is_refused_for_good_before_anything_moves(stack):
    before = champion(stack)  # last in the module: its failed run leaves a dead letter
    bad = register(stack, pickled=True, max_depth=3, n_estimators=30, learning_rate=0.1)
    state, states, out = deploy(stack, {"version": bad})
    assert state == "failed" and states["evaluate_challenger"] == "failed", out[-5000:]
    assert states["promote_challenger"] in ("upstream_failed", "skipped"), states
    assert f"v{bad} of {MODEL} is refused by the model loader" in out and "saved with skops" in out
    assert champion(stack) == before and stack["prod"].version()["version"] == before


def test_a_production_server_logs_what_it_scores_to_the_prediction_log(services, tmp_path):
    """A real server with ``--prediction-log``: the rows it scored land in the lake's day partition, with the
    request id it answered, the version, the score and the entity key; ``/health`` counts them; what is still
    buffered when it stops is written by its shutdown."""
    from ml_pipeline.data.lake import list_parquet_files
    from ml_pipeline.monitoring.prediction_log import predictions_uri, read_predictions

    layout, _ = services
    model_name, lake = "fraud_logged", (tmp_path / "lake").as_uri()
    features = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())["data"]["features"]
    dataset = join_uri(lake, "logged_transactions")
    generate_dataset(dataset, LAST_DAY, days=2, rows_per_day=400, seed=5)
    train = build_features(load_partitions(dataset, LAST_DAY, 2)[0], features)
    model = train_classifier(train, features, "is_fraud", {"max_depth": 2, "n_estimators": 5}, seed=1)
    run_id, uri = registry.log_training_run(layout.mlflow_url, model_name, f"log-test-{time.time_ns()}", {}, {},
                                            model, to_model_input(train.head(5), features),
                                            pip_requirements=["xgboost-cpu"])
    client = MlflowClient(layout.mlflow_url)
    version = registry.register_once(client, model_name, run_id, uri, {}).version
    client.set_registered_model_alias(model_name, registry.CHAMPION, version)
    rows = train.select(*features, "transaction_id").head(3).to_dicts()
    port, started = free_port(), dt.datetime.now(dt.UTC)
    with running_server(model_name, port, layout.mlflow_url, tmp_path / "serving.log", prediction_log=lake,
                        entity_key="transaction_id", spill_dir=tmp_path / "spill"):
        production = ServingClient(f"http://127.0.0.1:{port}")
        assert production.wait_healthy(180, version=version)["prediction_log"]["written_rows"] == 0
        answer = production.predict(rows)
        deadline = time.monotonic() + 30  # the writer flushes every 5 s
        while production.health()["prediction_log"]["written_rows"] < 3 and time.monotonic() < deadline:
            time.sleep(0.5)
        counters = production.health()["prediction_log"]
        assert (counters["written_rows"], counters["spilled_rows"], counters["dropped_rows"]) == (3, 0, 0), counters
        logged = read_predictions(lake, model_name, started, dt.datetime.now(dt.UTC))
        last = production.predict(rows[:1])  # still buffered when the server is stopped
    assert logged["request_id"].to_list() == [answer["request_id"]] * 3 and len(answer["request_id"]) == 32
    assert logged["model_version"].to_list() == [version] * 3 and logged["model"].to_list() == [model_name] * 3
    assert logged["score"].to_list() == answer["scores"]
    assert logged["entity_id"].to_list() == [row["transaction_id"] for row in rows]
    assert logged.select(features).to_dicts() == [{f: row[f] for f in features} for row in rows]
    partition = predictions_uri(lake, model_name, logged["predicted_at"][0].date())
    assert [uri.rsplit("/", 1)[-1][:5] for uri in list_parquet_files(partition)][:1] == ["part-"]
    after_stop = read_predictions(lake, model_name, started, dt.datetime.now(dt.UTC))
    assert after_stop.height == 4 and after_stop["request_id"][-1] == last["request_id"]
