"""Talk to a model server over HTTP, and start or stop one (the canary's staging instance)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx

from ml_pipeline.errors import PipelineError
from ml_pipeline.process_env import MODEL_SERVER, only

# A pinned (staging) server's exit code when its model could not load for a reason that heals (the registry
# unreachable): the canary retries instead of rejecting the challenger. Any other failure to load exits with 3.
EXIT_REGISTRY_UNAVAILABLE = 75  # EX_TEMPFAIL
EXIT_MODEL_REFUSED = 3
# A model server's admin token: read from the environment (or a file), never from its command line (``ps``).
ADMIN_TOKEN_ENV = "ML_SERVING_ADMIN_TOKEN"


class ServingError(PipelineError, RuntimeError):
    """A model server answered with an error, or not at all.

    Neither permanent nor transient by itself: the classification reads its ``status_code`` (a 503 while the
    server cannot reach the registry heals, a 409 refusal does not) or the network error it was raised from.
    """

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ServingClient:
    """The endpoints of one model server (``serving.py``).

    ``admin_token`` (the server's ``ML_SERVING_ADMIN_TOKEN``) is sent as ``Authorization: Bearer`` on
    ``reload`` and ``version``; without it ``version`` answers only model, version and alias.
    """

    def __init__(self, base_url: str, timeout: float = 30.0, admin_token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._admin = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}

    def __repr__(self) -> str:  # never the token
        return f"ServingClient({self.base_url!r}, admin={'yes' if self._admin else 'no'})"

    def _call(self, method: str, path: str, timeout: float | None = None, **kwargs: Any) -> dict:
        try:
            response = httpx.request(method, f"{self.base_url}{path}", timeout=timeout or self.timeout, **kwargs)
        except httpx.HTTPError as exc:
            raise ServingError(f"{method} {self.base_url}{path}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ServingError(f"{method} {self.base_url}{path} answered {response.status_code}: "
                               f"{response.text[:1000]}", response.status_code)
        return response.json()

    def health(self) -> dict:
        """``/health``; ``ServingError`` unless the server has a model."""
        return self._call("GET", "/health")

    def version(self) -> dict:
        """``/version``: model, version, alias; with the admin token also run id, estimator, lineage tags."""
        return self._call("GET", "/version", headers=self._admin)

    def predict(self, rows: list[dict[str, Any]]) -> dict:
        """``/predict``: the served version and one score per row."""
        return self._call("POST", "/predict", json={"rows": rows})

    def reload(self) -> dict:
        """``/admin/reload``: serve the alias's version now; ``ServingError`` (409) when it was refused.

        401/403 (a ``ServingError``, permanent): the token is wrong, or the server has none.
        """
        return self._call("POST", "/admin/reload", timeout=max(self.timeout, 300.0), headers=self._admin)

    def wait_healthy(self, timeout: float, process: subprocess.Popen | None = None,
                     version: str | None = None) -> dict:
        """Block until ``/health`` is ok (and serves ``version``); fail early if ``process`` exits."""
        deadline, last = time.monotonic() + timeout, "no answer yet"
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise ServingError(f"server at {self.base_url} exited with code {process.returncode}: {last}")
            try:
                health = self.health()
                if version is None or health.get("version") == str(version):
                    return health
                last = f"serving v{health.get('version')}, not v{version}"
            except ServingError as exc:
                last = str(exc)
            time.sleep(0.5)
        raise ServingError(f"server at {self.base_url} not healthy after {timeout:.0f} s: {last}")


def serving_argv(model: str, port: int, tracking_uri: str, version: str | None = None,
                 poll_seconds: float = 30.0, prediction_log: str | None = None, entity_key: str | None = None,
                 spill_dir: Path | None = None, max_body_bytes: int | None = None,
                 max_rows: int | None = None) -> list[str]:
    """Command line of a model server (the platform runs one per endpoint, the canary a pinned one).

    ``prediction_log`` (a lake URI) turns the prediction log on, with ``entity_key`` logged as each row's
    ``entity_id`` and ``spill_dir`` as the folder where rows wait while the lake fails. ``max_body_bytes`` and
    ``max_rows`` bound one ``/predict``. The admin token is never on it: it goes in the environment
    (``ADMIN_TOKEN_ENV``).
    """
    argv = [sys.executable, "-m", "ml_pipeline.deployment.serving", "--model", model, "--port", str(port),
            "--tracking-uri", tracking_uri, "--poll-seconds", str(poll_seconds)]
    if prediction_log:
        argv += ["--prediction-log", prediction_log]
        argv += ["--entity-key", entity_key] if entity_key else []
        argv += ["--spill-dir", str(spill_dir)] if spill_dir else []
    argv += ["--max-body-bytes", str(max_body_bytes)] if max_body_bytes else []
    argv += ["--max-rows", str(max_rows)] if max_rows else []
    return argv + (["--version", str(version)] if version else [])


@contextlib.contextmanager
def running_server(model: str, port: int, tracking_uri: str, log_path: Path, version: str | None = None,
                   admin_token: str | None = None, mlflow_login: Mapping[str, str] | None = None,
                   **options: Any) -> Iterator[subprocess.Popen]:
    """A model server process for the duration of the block, stopped (its whole process group) after.

    ``admin_token`` reaches it through its environment (``ADMIN_TOKEN_ENV``), never its command line; without
    one it inherits ours. Of our environment it gets only what a model server reads (``process_env.MODEL_SERVER``);
    ``mlflow_login`` (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``), when given, replaces the MLflow login it would
    inherit: a task logs in as a user who may write, the server it starts should only read.
    ``options`` takes ``serving_argv``'s keyword arguments (``prediction_log``, ``entity_key``, ``spill_dir``,
    ``poll_seconds``, ``max_body_bytes``, ``max_rows``).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**only(os.environ, MODEL_SERVER), "MLFLOW_DISABLE_TELEMETRY": "true",
           **({ADMIN_TOKEN_ENV: admin_token} if admin_token else {}), **(mlflow_login or {})}
    with open(log_path, "ab") as out:
        process = subprocess.Popen(serving_argv(model, port, tracking_uri, version, **options), stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                   env=env)
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
