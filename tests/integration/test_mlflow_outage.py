"""MLflow down is never read as "no champion": deployment steps raise ``TransientError`` and serving goes on.

A real MLflow server registers a champion (v1) and a challenger (v2), a real model server serves v1, then the
MLflow process is killed. Every step that would decide something on the registry's answer — judging the
challenger, promoting it, the automatic and the manual rollback, verifying production, the training run's champion
comparison — must raise ``TransientError`` (retried by the tasks' policy), and the model server must keep serving
v1. The server is then started again on the same backend: the ``champion`` alias is still there.
"""

import datetime as dt
import os
import subprocess
import time

import httpx
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from ml_pipeline.data.loader import load_partitions
from ml_pipeline.deployment.client import ADMIN_TOKEN_ENV, ServingClient, ServingError, serving_argv
from ml_pipeline.deployment.history import DeploymentHistory
from ml_pipeline.errors import TransientError
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.features.registry import build_features
from ml_pipeline.pipelines import deployment
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training import model as training_model
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.training.trainer import to_model_input, train_classifier
from ml_platform.layout import free_ports
from ml_platform.supervisor import stop_process_tree
from tests.support.services import mlflow_server

pytestmark = pytest.mark.integration
MODEL = "fraud_outage"
LAST_DAY = dt.date(2026, 11, 21)
ADMIN_TOKEN = "outage-admin-token"  # the model server's /admin/reload and detailed /version need it
# MLflow's client retries a dead connection with backoff for minutes by default: fail each call at once here.
FAST_FAILING_CLIENT = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "5"}


def register(url: str, train: pl.DataFrame, features: list[str], seed: int) -> str:
    """Train a tiny model, log and register it; return its version."""
    model = train_classifier(train, features, "is_fraud", {"max_depth": 2, "n_estimators": 5}, seed=seed)
    run_id, uri = registry.log_training_run(url, MODEL, f"outage-{seed}-{time.time_ns()}", {}, {}, model,
                                            to_model_input(train.head(5), features), pip_requirements=["xgboost-cpu"])
    return registry.register_once(MlflowClient(url), MODEL, run_id, uri, {}).version


@pytest.fixture(scope="module")
def outage(tmp_path_factory):
    """Champion v1 served by a real model server, challenger v2; then MLflow killed. Yields what the tests need."""
    home = tmp_path_factory.mktemp("outage")
    lake = (home / "lake").as_uri()
    config = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())
    config.update(model_name=MODEL, schedule=None)
    config["data"]["source"] = "outage_transactions"
    config["deployment"] = {"min_auc_threshold": 0.5, "holdout_days": 1}
    (home / f"{MODEL}.yaml").write_text(yaml.safe_dump(config))
    features = config["data"]["features"]
    generate_dataset(join_uri(lake, "outage_transactions"), LAST_DAY, days=3, rows_per_day=400, seed=7)
    train = build_features(load_partitions(join_uri(lake, "outage_transactions"), LAST_DAY, 3)[0], features)
    history = DeploymentHistory(f"sqlite:///{home / 'history.db'}")
    history.create_schema()
    port, serving_port = free_ports(2)
    with pytest.MonkeyPatch.context() as env:
        for name, value in FAST_FAILING_CLIENT.items():
            env.setenv(name, value)
        with mlflow_server(home / "mlflow", port) as url:
            client = MlflowClient(url)
            v1, v2 = register(url, train, features, seed=1), register(url, train, features, seed=2)
            client.set_registered_model_alias(MODEL, registry.CHAMPION, v1)
            client.set_registered_model_alias(MODEL, registry.CHALLENGER, v2)
            # While MLflow answers, "does not exist" is None (what MLflow 3.17 returns for each is checked here)
            assert registry.alias_version(client, MODEL, registry.PREVIOUS_CHAMPION) is None
            assert registry.alias_version(client, "no_such_model", registry.CHAMPION) is None
            assert registry.model_version(client, MODEL, "99") is None
            # the model server polls the alias every second and, like us, gives up on a dead connection at once
            with open(home / "serving.log", "wb") as log:
                server = subprocess.Popen(serving_argv(MODEL, serving_port, url, poll_seconds=1.0), stdout=log,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          env={**os.environ, ADMIN_TOKEN_ENV: ADMIN_TOKEN})
            serving = ServingClient(f"http://127.0.0.1:{serving_port}", timeout=10, admin_token=ADMIN_TOKEN)
            serving.wait_healthy(180, server, version=v1)
        try:
            ctx = RunContext(load_model_config(home / f"{MODEL}.yaml"), home / f"{MODEL}.yaml", LAST_DAY, lake, url,
                             f"model_deployment_{MODEL}", "outage_test")
            yield {"ctx": ctx, "client": client, "v1": v1, "v2": v2, "serving": serving, "train": train,
                   "features": features, "home": home, "port": port,
                   "target": deployment.DeploymentTarget(serving.base_url, history, admin_token=ADMIN_TOKEN)}
        finally:
            stop_process_tree(server.pid)
            server.wait(timeout=10)


def test_an_alias_lookup_raises_instead_of_answering_no_champion(outage):
    with pytest.raises(TransientError):
        registry.alias_version(outage["client"], MODEL, registry.CHAMPION)
    with pytest.raises(TransientError):  # and so nothing is promoted over a champion nobody could see
        registry.promote(outage["client"], MODEL, outage["v2"])


def test_judging_a_challenger_is_retried_not_done_without_the_champion(outage):
    for version in (outage["v2"], None):  # named by the asset event, or found by its alias
        with pytest.raises(TransientError):
            deployment.evaluate_challenger(outage["ctx"], version)
    features = outage["train"].select(outage["features"])
    with pytest.raises(TransientError):  # the training run's own comparison with the champion
        training_model._champion_auc(outage["ctx"], outage["client"], to_model_input(features, outage["features"]),
                               outage["train"]["is_fraud"].to_numpy())


def test_a_promotion_is_retried_and_moves_nothing(outage):
    evaluation = {"challenger": {"version": outage["v2"]}, "champion": {"version": outage["v1"]},
                  "decision": {"reason": "beats champion"}, "holdout": {"days": [LAST_DAY.isoformat()]},
                  "sample_uri": None}
    with pytest.raises(TransientError):
        deployment.promote(outage["ctx"], outage["target"], evaluation, {"skipped": "test"})
    assert outage["target"].history().events(MODEL) == []  # nothing recorded: nothing was done


def test_rollbacks_and_verification_are_retried_and_take_no_decision(outage):
    ctx, target, v1, v2 = outage["ctx"], outage["target"], outage["v1"], outage["v2"]
    evaluation = {"challenger": {"version": v2}, "champion": {"version": v1}, "sample_uri": None}
    first_promotion = {"challenger": {"version": v2}, "champion": None, "sample_uri": None}  # rollback to "none"
    for failed in (evaluation, first_promotion):
        with pytest.raises(TransientError):
            deployment.roll_back(ctx, target, failed, "verification failed")
    with pytest.raises(TransientError):
        deployment.verify(ctx, target, evaluation, v1)
    with pytest.raises(TransientError):
        deployment.rollback_to(ctx, target, None, "manual rollback")
    actions = [event.action for event in target.history().events(MODEL)]
    assert actions == [], actions  # nothing recorded: a retry finishes the job, no decision was taken


def test_the_model_server_keeps_serving_its_model(outage):
    serving, v1 = outage["serving"], outage["v1"]
    time.sleep(4)  # several polls of the alias against the dead server
    assert serving.health()["version"] == v1
    rows = outage["train"].select(outage["features"]).head(3).to_dicts()
    answer = serving.predict(rows)
    assert answer["version"] == v1 and len(answer["scores"]) == 3
    with pytest.raises(ServingError) as refused:  # a reload asked for now is refused as "try again", not a drop
        serving.reload()
    assert refused.value.status_code == 503 and is_transient(refused.value)
    assert httpx.get(f"{serving.base_url}/version", timeout=10).json()["version"] == v1
    log = (outage["home"] / "serving.log").read_text()
    assert "cannot follow alias champion" in log, log[-3000:]  # the polls met the outage as a TransientError


def test_the_champion_alias_is_still_there_when_mlflow_is_back(outage):
    with mlflow_server(outage["home"] / "mlflow", outage["port"]) as url:
        client = MlflowClient(url)
        assert client.get_model_version_by_alias(MODEL, registry.CHAMPION).version == outage["v1"]
        assert client.get_model_version_by_alias(MODEL, registry.CHALLENGER).version == outage["v2"]
        assert registry.alias_version(client, MODEL, registry.PREVIOUS_CHAMPION) is None
        assert outage["serving"].health()["version"] == outage["v1"]
