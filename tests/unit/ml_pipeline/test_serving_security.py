"""The model server's guards over real HTTP: admin token, ``/version``'s two halves, request limits, refusals."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import mlflow
import pandas as pd
import pytest
import uvicorn
from sklearn.linear_model import LogisticRegression

from ml_pipeline.data.generator import generate_day
from ml_pipeline.deployment.client import ADMIN_TOKEN_ENV, ServingClient, ServingError, free_port, serving_argv
from ml_pipeline.deployment.loaded_model import LoadedModel, ModelLoadError, refused_on_load
from ml_pipeline.deployment.serving import ModelServer, create_app, prediction_writer
from ml_pipeline.deployment.serving_policy import ServingPolicy, serving_policy
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.features.fraud import engineer_fraud_features
from ml_pipeline.pipelines.deployment import DeploymentError, ModelRegistry
from ml_pipeline.training.trainer import train_classifier

TOKEN = "s3cret-admin-token"
ROW = {"amount": 35.0, "hour": 3.0}


def served_model(version: str = "7") -> LoadedModel:
    frame = pd.DataFrame({"amount": [1.0, 2.0, 30.0, 40.0], "hour": [1.0, 2.0, 3.0, 4.0]})
    return LoadedModel("fraud_detection", version, f"run-{version}", LogisticRegression().fit(frame, [0, 0, 1, 1]),
                       ["amount", "hour"], {"amount": "double", "hour": "double"},
                       {"lineage.code_commit": "abc123", "lineage.data_uri": "s3://lake/private/path"})


class Target(ModelServer):
    """A server whose target version is set by the test, loading with ``load`` (counted); no registry."""

    def __init__(self, load) -> None:
        super().__init__("fraud_detection", "http://unused", loader=self._load)
        self.target, self.load, self.loads = "7", load, []

    def target_version(self) -> str | None:
        return self.target

    def _load(self, _uri: str, _name: str, version: str) -> LoadedModel:
        self.loads.append(version)
        return self.load(version)


@contextlib.contextmanager
def live(server: ModelServer, policy: ServingPolicy | None = None) -> Iterator[str]:
    """``create_app(server, policy=policy)`` served by uvicorn on a free port; yield its URL."""
    port = free_port()
    runner = uvicorn.Server(uvicorn.Config(create_app(server, policy=policy), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not runner.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        runner.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def serving():
    server = Target(served_model)
    server.current = served_model()
    with live(server, ServingPolicy(TOKEN, max_body_bytes=2048, max_rows=5)) as url:
        yield server, url


def test_without_a_token_configured_admin_endpoints_answer_403_naming_the_variable():
    server = Target(served_model)
    server.current = served_model()
    with live(server) as url:
        refused = httpx.post(f"{url}/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 403 and ADMIN_TOKEN_ENV in refused.json()["detail"]
        assert httpx.get(f"{url}/version").json() == {"model": "fraud_detection", "version": "7", "alias": "champion"}
    assert server.loads == []


@pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer"])
def test_reload_needs_the_bearer_token(serving, header):
    server, url = serving
    answer = httpx.post(f"{url}/admin/reload", headers={"Authorization": header} if header else {})
    assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
    assert TOKEN not in answer.text and server.loads == []


def test_version_shows_lineage_only_with_the_token(serving):
    server, url = serving
    public = httpx.get(f"{url}/version").json()
    assert public == {"model": "fraud_detection", "version": "7", "alias": "champion"}
    assert httpx.get(f"{url}/version", headers={"Authorization": "Bearer nope"}).status_code == 401
    full = ServingClient(url, admin_token=TOKEN).version()
    assert full["lineage"]["lineage.code_commit"] == "abc123" and full["run_id"] == "run-7"
    assert full["features"] == ["amount", "hour"] and full["alias"] == "champion"


def test_the_client_sends_the_token_on_reload_and_never_shows_it(serving):
    server, url = serving
    server.target = "8"
    assert ServingClient(url, admin_token=TOKEN).reload() == {"model": "fraud_detection", "version": "8",
                                                              "previous": "7", "changed": True}
    with pytest.raises(ServingError) as denied:
        ServingClient(url).reload()
    assert denied.value.status_code == 401 and not is_transient(denied.value)
    assert TOKEN not in repr(ServingClient(url, admin_token=TOKEN))


def test_a_refused_version_is_not_loaded_again_until_the_target_changes(serving):
    server, url = serving

    def load(version: str) -> LoadedModel:
        if version == "8":
            raise ModelLoadError("models:/fraud_detection/8 is refused: UntrustedTypesFoundException: evil.Type")
        return served_model(version)

    server.load, server.target = load, "8"
    admin = {"Authorization": f"Bearer {TOKEN}"}
    first = httpx.post(f"{url}/admin/reload", headers=admin)
    again = httpx.post(f"{url}/admin/reload", headers=admin)
    assert (first.status_code, again.status_code) == (409, 409) and server.loads == ["8"]
    assert "evil.Type" in again.json()["detail"] and "refused already" in again.json()["detail"]
    assert httpx.post(f"{url}/predict", json={"rows": [ROW]}).json()["version"] == "7"  # the old one serves on
    server.target = "7"  # rolled back to the one serving: nothing to load, and v8 is forgotten
    assert httpx.post(f"{url}/admin/reload", headers=admin).json()["version"] == "7" and server.refused is None
    server.target = "8"  # promoted again (fixed in the registry, say): tried again, not answered from memory
    assert httpx.post(f"{url}/admin/reload", headers=admin).status_code == 409 and server.loads == ["8", "8"]
    server.target = "9"
    assert httpx.post(f"{url}/admin/reload", headers=admin).json()["version"] == "9"
    assert server.loads == ["8", "8", "9"] and server.refused is None


def test_a_host_out_of_disk_or_memory_is_no_reason_to_refuse_the_version_for_good():
    """Refused is for the version's own faults; freed, the host loads the same version (load_version's
    TransientError keeps the current model and tries again on the next poll or reload)."""
    import errno

    from ml_pipeline.deployment.loaded_model import out_of_room

    def raised_while(handling: BaseException) -> Exception:
        try:
            try:
                raise handling
            except BaseException as cause:
                raise RuntimeError("download of the model's artifacts failed") from cause
        except RuntimeError as wrapped:
            return wrapped

    assert out_of_room(raised_while(OSError(errno.ENOSPC, "No space left on device")))
    assert out_of_room(raised_while(MemoryError()))
    assert not out_of_room(raised_while(FileNotFoundError(errno.ENOENT, "no model.skops")))  # the version's fault
    assert not out_of_room(ValueError("fails its smoke prediction"))


def test_a_body_over_the_limit_is_refused_declared_or_chunked(serving):
    _, url = serving
    big = b'{"rows": [' + b",".join([b'{"amount": 1.0, "hour": 1.0}'] * 100) + b"]}"
    declared = httpx.post(f"{url}/predict", content=big, headers={"Content-Type": "application/json"})
    assert declared.status_code == 413 and "2048 bytes" in declared.json()["detail"]

    def chunks():  # no Content-Length: Transfer-Encoding chunked
        yield from (big[i:i + 256] for i in range(0, len(big), 256))

    chunked = httpx.post(f"{url}/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert chunked.status_code == 413 and "ML_SERVING_MAX_BODY_BYTES" in chunked.json()["detail"]
    assert httpx.post(f"{url}/predict", json={"rows": [ROW] * 3}).status_code == 200


def test_too_many_rows_or_a_bad_body_are_refused_with_what_to_do(serving):
    _, url = serving
    many = httpx.post(f"{url}/predict", json={"rows": [ROW] * 6})
    assert many.status_code == 413 and "limit of 5" in many.json()["detail"] and "ML_SERVING_MAX_ROWS" in many.text
    assert httpx.post(f"{url}/predict", content=b"{not json").status_code == 422
    assert httpx.post(f"{url}/predict", json=[ROW]).status_code == 422
    assert len(httpx.post(f"{url}/predict", json={"rows": [ROW] * 5}).json()["scores"]) == 5


def args(**given) -> argparse.Namespace:
    return argparse.Namespace(**{"admin_token_file": None, "max_body_bytes": None, "max_rows": None, **given})


def fail(message: str):
    raise ValueError(message)


def test_the_policy_comes_from_the_environment_or_a_token_file(tmp_path, monkeypatch):
    monkeypatch.delenv(ADMIN_TOKEN_ENV, raising=False)
    monkeypatch.delenv("ML_SERVING_MAX_ROWS", raising=False)
    assert serving_policy(args(), fail) == ServingPolicy(None, 1 << 20, 1000)
    monkeypatch.setenv(ADMIN_TOKEN_ENV, f" {TOKEN}\n")
    monkeypatch.setenv("ML_SERVING_MAX_BODY_BYTES", "4096")
    assert serving_policy(args(max_rows=10), fail) == ServingPolicy(TOKEN, 4096, 10)
    (tmp_path / "token").write_text("from-file\n")
    assert serving_policy(args(admin_token_file=tmp_path / "token"), fail).admin_token == "from-file"
    assert TOKEN not in repr(serving_policy(args(), fail))
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match=r"--admin-token-file .*empty.* is empty"):
        serving_policy(args(admin_token_file=tmp_path / "empty"), fail)
    with pytest.raises(ValueError, match=r"--admin-token-file .*missing: cannot read it .*ML_SERVING_ADMIN_TOKEN"):
        serving_policy(args(admin_token_file=tmp_path / "missing"), fail)
    monkeypatch.setenv("ML_SERVING_MAX_ROWS", "lots")
    with pytest.raises(ValueError, match="--max-rows / env ML_SERVING_MAX_ROWS is 'lots': expected a positive"):
        serving_policy(args(), fail)


def test_the_token_is_never_on_the_command_line():
    argv = serving_argv("fraud_detection", 8500, "http://mlflow", max_body_bytes=10, max_rows=2)
    assert argv[-4:] == ["--max-body-bytes", "10", "--max-rows", "2"]
    assert not any("token" in part for part in argv)


def test_the_spill_folder_without_a_configured_one_is_private_and_unpredictable(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PREDICTION_SPILL_DIR", raising=False)
    given = argparse.Namespace(prediction_log=tmp_path.as_uri(), version=None, model="fraud", port=8500,
                               spill_dir=None, entity_key=None)
    first, second = prediction_writer(given).spill_dir, prediction_writer(given).spill_dir
    assert first != second and first.name.startswith("ml-prediction-spool-fraud-")
    assert stat.S_IMODE(first.stat().st_mode) == 0o700 and first.stat().st_uid == os.getuid()


def test_a_model_file_with_untrusted_types_is_refused_for_good_by_the_deployment_steps(tmp_path, monkeypatch):
    """The MLmodel lists LightGBM's types but names no estimator (so XGBoost's are trusted): skops refuses it,
    and a deployment step scoring it fails permanently (no retry), naming the refusal."""
    from skops.io.exceptions import UntrustedTypesFoundException

    monkeypatch.chdir(tmp_path)  # MLflow keeps a SQLite store's artifacts in ./mlruns: here, not in the checkout
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    frame = engineer_fraud_features(generate_day(dt.date(2026, 11, 20), 300))
    features = ["amount", "merchant_category", "region"]
    model = train_classifier(frame, features, "is_fraud", {"n_estimators": 3}, seed=1, model_type="lightgbm")
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.set_experiment("widened")  # not an experiment id an earlier test left active elsewhere
    with mlflow.start_run(experiment_id=experiment.experiment_id):
        model_uri = mlflow.sklearn.log_model(model, name="model", registered_model_name="widened",
                                             skops_trusted_types=list(get_estimator("lightgbm").trusted_types)
                                             ).model_uri
    assert model_uri
    assert refused_on_load(UntrustedTypesFoundException(["lightgbm.LGBMClassifier"]))
    with pytest.raises(DeploymentError, match="v1 of widened is refused by the model loader: Untrusted") as refused:
        ModelRegistry(mlflow.MlflowClient(uri), uri, "widened").scores("1", frame, features)
    assert not is_transient(refused.value)


def test_a_server_a_task_starts_holds_none_of_airflows_secrets(tmp_path, monkeypatch):
    """The canary's staging server is started by a task, whose environment holds the Fernet key and connections."""
    from ml_pipeline.deployment.client import running_server

    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "fernet-secret")
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", "postgresql://u:db-secret@h/d")
    monkeypatch.setenv("ML_PLATFORM_LINEAGE_TOKEN", "lineage-secret")
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:external-db-secret@db:5432")
    monkeypatch.setenv("PGPASSWORD", "pg-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "lake-secret")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipelines")  # the task's own MLflow login may write
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "pipelines-secret")
    serving = {"MLFLOW_TRACKING_USERNAME": "serving", "MLFLOW_TRACKING_PASSWORD": "serving-password"}
    with running_server("m", free_port(), "http://127.0.0.1:9", tmp_path / "s.log", admin_token=TOKEN,
                        mlflow_login=serving) as process:
        environ = environment_of(process.pid)
    assert f"{ADMIN_TOKEN_ENV}={TOKEN}" in environ
    assert {"MLFLOW_TRACKING_USERNAME=serving", "MLFLOW_TRACKING_PASSWORD=serving-password"} <= set(environ)
    assert not [s for s in ("fernet-secret", "db-secret", "lineage-secret", "external-db-secret", "pg-secret",
                            "lake-secret", "pipelines-secret") if any(s in line for line in environ)]


def environment_of(pid: int, timeout: float = 10.0) -> list[str]:
    """The environment of process ``pid``, once its new program has it.

    ``Popen`` returns when the child's close-on-exec pipe closes, which the kernel does before it lays out the new
    program's environment: read at once, ``/proc/<pid>/environ`` can still be empty (seen once in a full suite).
    """
    deadline = time.monotonic() + timeout
    while not (raw := (Path("/proc") / str(pid) / "environ").read_bytes()) and time.monotonic() < deadline:
        time.sleep(0.01)
    return raw.decode().split("\0")
