"""A real model server process against a real MLflow server: admin token, request limits, and refused versions.

A version logged with pickle, and one whose MLmodel widens the trusted skops types, are refused: the old version
keeps answering ``/predict``, ``/admin/reload`` answers 409 with the reason, and a second reload of the same
version answers from memory (nothing downloaded again).
"""

import datetime as dt
import time
from pathlib import Path

import httpx
import mlflow
import pytest
from mlflow import MlflowClient

from ml_pipeline.data.generator import generate_day
from ml_pipeline.deployment.client import ServingClient, ServingError, free_port, running_server
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.features.fraud import engineer_fraud_features
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.training.trainer import to_model_input, train_classifier
from tests.support.services import mlflow_server

pytestmark = pytest.mark.integration
MODEL = "fraud_guarded"
FEATURES = ["amount", "merchant_category", "region"]
TOKEN = "integration-admin-token-0123456789"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """MLflow with v1 (a good XGBoost model) as champion, and a server for it holding the admin token."""
    home = tmp_path_factory.mktemp("serving-security")
    frame = engineer_fraud_features(generate_day(dt.date(2026, 11, 20), 400))
    with mlflow_server(home / "mlflow", free_port()) as url:
        client = MlflowClient(url)
        model = train_classifier(frame, FEATURES, "is_fraud", {"n_estimators": 3}, seed=1)
        x = to_model_input(frame.head(5), FEATURES)
        run_id, uri = registry.log_training_run(url, MODEL, f"good-{time.time_ns()}", {}, {}, model, x,
                                                ["xgboost-cpu"])
        v1 = registry.register_once(client, MODEL, run_id, uri, {}).version
        client.set_registered_model_alias(MODEL, registry.CHAMPION, v1)
        port = free_port()
        with running_server(MODEL, port, url, home / "serving.log", admin_token=TOKEN, poll_seconds=3600,
                            max_body_bytes=4096, max_rows=10) as process:
            base = f"http://127.0.0.1:{port}"
            ServingClient(base).wait_healthy(180, process, version=v1)
            yield {"url": url, "client": client, "frame": frame, "x": x, "v1": v1, "base": base, "home": home,
                   "process": process, "admin": ServingClient(base, admin_token=TOKEN),
                   "rows": frame.select(FEATURES).head(3).to_dicts()}


def register_unsafe(served: dict, model_type: str, **log_model) -> str:
    """Log a model of ``model_type`` with ``mlflow.sklearn.log_model(**log_model)``, register it, make it champion."""
    model = train_classifier(served["frame"], FEATURES, "is_fraud", {"n_estimators": 3}, seed=1,
                             model_type=model_type)
    signature = mlflow.models.infer_signature(served["x"], model.predict_proba(served["x"])[:, 1])
    mlflow.set_tracking_uri(served["url"])
    with mlflow.start_run(experiment_id=registry.experiment_id(served["client"], MODEL)):
        uri = mlflow.sklearn.log_model(model, name="model", signature=signature, pip_requirements=["xgboost-cpu"],
                                       **log_model).model_uri
    version = mlflow.register_model(uri, MODEL).version
    served["client"].set_registered_model_alias(MODEL, registry.CHAMPION, version)
    return str(version)


def reload_refused(served: dict) -> ServingError:
    with pytest.raises(ServingError) as refused:
        served["admin"].reload()
    assert refused.value.status_code == 409 and not is_transient(refused.value)
    return refused.value


def assert_old_version_serves(served: dict) -> None:
    answer = httpx.post(f"{served['base']}/predict", json={"rows": served["rows"]}, timeout=30).json()
    assert answer["version"] == served["v1"] and len(answer["scores"]) == 3
    assert served["admin"].version()["version"] == served["v1"]


def test_admin_needs_the_token_and_the_token_is_not_on_the_command_line(served):
    assert httpx.post(f"{served['base']}/admin/reload", timeout=30).status_code == 401
    assert httpx.post(f"{served['base']}/admin/reload", headers={"Authorization": "Bearer no"}).status_code == 401
    assert served["admin"].reload()["changed"] is False
    public = httpx.get(f"{served['base']}/version", timeout=10).json()
    assert public == {"model": MODEL, "version": served["v1"], "alias": "champion"}
    full = served["admin"].version()
    assert full["model_type"] == "xgboost" and full["run_id"] and "lineage" in full
    assert TOKEN not in Path(f"/proc/{served['process'].pid}/cmdline").read_text()


def test_a_pickled_version_is_refused_and_not_downloaded_again(served):
    version = register_unsafe(served, "xgboost", serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
                              metadata={"model_type": "xgboost"})
    first = reload_refused(served)
    assert f"models:/{MODEL}/{version}" in str(first) and "not a scikit-learn model saved with skops" in str(first)
    again = reload_refused(served)
    assert "refused already" in str(again) and "saved with skops" in str(again)
    assert_old_version_serves(served)
    log = (served["home"] / "serving.log").read_text()
    assert log.count(f"keeping v{served['v1']}: models:/{MODEL}/{version} is refused") == 1, log[-3000:]  # once


def test_a_version_whose_model_file_widens_the_trusted_types_is_refused(served):
    """LightGBM types listed in the MLmodel, no estimator named (so XGBoost's types are trusted): refused."""
    version = register_unsafe(served, "lightgbm",
                              skops_trusted_types=list(get_estimator("lightgbm").trusted_types))
    refused = reload_refused(served)
    assert f"models:/{MODEL}/{version} is refused: UntrustedTypesFoundException" in str(refused)
    assert "lightgbm" in str(refused)
    assert_old_version_serves(served)


def test_a_request_over_the_limits_is_refused_with_413(served):
    too_many = httpx.post(f"{served['base']}/predict", json={"rows": served["rows"] * 4}, timeout=30)
    assert too_many.status_code == 413 and "limit of 10" in too_many.text
    big = httpx.post(f"{served['base']}/predict", content=b'{"rows": [' + b" " * 5000 + b"]}", timeout=30)
    assert big.status_code == 413 and "4096 bytes" in big.text
    assert httpx.post(f"{served['base']}/predict", json={"rows": served["rows"]}, timeout=30).status_code == 200


def test_a_server_with_nothing_to_serve_says_why_in_health_and_log(served):
    """By hand, `ml-pipeline serve` of a misspelt model or one never promoted: 503 with the reason, and a log line."""
    served["client"].create_registered_model(f"{MODEL}_unpromoted")
    for model, reason in ((f"{MODEL}_typo", f"no model '{MODEL}_typo' is registered in {served['url']}: check the "
                                            "name, or train it first"),
                          (f"{MODEL}_unpromoted", f"model {MODEL}_unpromoted has no 'champion' alias: a deployment "
                                                  "run promotes a version to it")):
        port, log = free_port(), served["home"] / f"{model}.log"
        with running_server(model, port, served["url"], log, poll_seconds=3600) as process:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and process.poll() is None:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
                except httpx.TransportError:
                    health = None
                if health is not None and health.json()["reason"] != "loading":
                    break
                time.sleep(0.5)
            assert health is not None and health.status_code == 503 and health.json()["reason"].startswith(reason)
            assert process.poll() is None  # a server by alias waits for one: it polls on
        assert f"{reason}" in log.read_text() and "answer 503 until it has one" in log.read_text()
