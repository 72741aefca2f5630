"""Real services for integration tests, started from the platform's own component specs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from ml_pipeline.process_env import overlay
from ml_platform import database, mlflow_auth
from ml_platform.components import BIN, components, platform_env
from ml_platform.layout import Layout
from ml_platform.process_env import BASIC, only
from ml_platform.secrets import ensure_secrets
from ml_platform.supervisor import stop_process_tree


@contextlib.contextmanager
def postgres_and_mlflow(layout: Layout) -> Iterator[dict[str, str]]:
    """Run the platform's PostgreSQL and MLflow server; yield the platform environment."""
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    env = {**os.environ, **platform_env(layout, secrets)}
    specs = {c.name: c for c in components(layout)}
    procs = []
    try:
        database.ensure_initialized(layout)
        for name in ("postgres", "mlflow"):
            spec = specs[name]
            log = open(layout.logs / f"{name}.log", "ab")  # noqa: SIM115
            procs.append((spec, subprocess.Popen(spec.argv, env=spec.environment(env), stdout=log,
                                                 stderr=subprocess.STDOUT, start_new_session=True, user=spec.user,
                                                 cwd=layout.home)))
            if name == "postgres":
                database.wait_ready(layout)
                database.ensure_databases(layout)
                assert mlflow_auth.start_users(layout, secrets, only(env, BASIC)).wait(timeout=120) == 0, \
                    (layout.logs / "mlflow-users.log").read_text()[-2000:]
        wait_http(f"{layout.mlflow_url}/health", timeout=120)
        with mlflow_login(layout):  # this process's MLflow clients: the platform's tasks' user
            yield env
    finally:
        for spec, proc in reversed(procs):
            stop_process_tree(proc.pid, getattr(signal, spec.stop_signal))
            proc.wait(timeout=10)


def on_own_lake(env: dict[str, str], lake: Path) -> dict[str, str]:
    """``env`` with a lake (and feature store) of a module's own: ``s3://ml-data`` mapped onto ``lake``.

    The platform's feature-store connection is dropped: without it the hook keeps its store under ``$ML_LAKE_URI``.
    """
    env = {key: value for key, value in env.items() if key != "AIRFLOW_CONN_FEATURE_STORE_DEFAULT"}
    return {**env, "ML_LAKE_URI": lake.as_uri(), "ML_DATA_URI_MAP": f"s3://ml-data={lake.as_uri()}"}


def mlflow_login(layout: Layout) -> contextlib.AbstractContextManager[None]:
    """This process's MLflow clients log in as the platform's ``pipelines`` user; the environment is restored after."""
    return overlay(mlflow_auth.platform_credentials(layout.secrets_file))


@contextlib.contextmanager
def mlflow_server(home: Path, port: int) -> Iterator[str]:
    """A bare MLflow server on a SQLite backend in ``home``; yield its URL, stop it (its whole process tree) after.

    Started again on the same ``home`` and port, it serves the same registry: what an outage test needs.
    """
    home.mkdir(parents=True, exist_ok=True)
    argv = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
            "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
            "--artifacts-destination", (home / "artifacts").as_uri(), "--serve-artifacts"]
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # seven idle job consumers otherwise
    with running_process(argv, env, home, f"http://127.0.0.1:{port}/health", timeout=120):
        yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def running_process(argv: list[str], env: dict[str, str], home: Path, health_url: str,
                    timeout: float = 120) -> Iterator[subprocess.Popen]:
    """A server process (log: ``<home>/<program>.log``) until ``health_url`` answers 200; stopped after, its tree."""
    with open(home / f"{Path(argv[0]).name}.log", "ab") as log:
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=home)
    try:
        wait_http(health_url, timeout=timeout)
        yield proc
    finally:
        stop_process_tree(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def wait_http(url: str, timeout: float) -> None:
    """Block until ``url`` answers 200, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")


@contextlib.contextmanager
def moto_s3(check_credentials: bool = False) -> Iterator[str]:
    """A real S3-compatible server (moto's server mode) on a free port: its URL.

    ``check_credentials``: it refuses keys it does not know (``InvalidAccessKeyId``, 403), as S3 refuses expired or
    revoked ones; otherwise any key is accepted.
    """
    from ml_platform.layout import free_port

    port = free_port()
    env = {**os.environ, **({"INITIAL_NO_AUTH_ACTION_COUNT": "0"} if check_credentials else {})}
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        stop_process_tree(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


PAGERDUTY_ROUTING_KEY = "0123456789abcdef0123456789abcdef"  # any 32 characters: the sink checks the length


@contextlib.contextmanager
def alert_sinks(store: Path) -> Iterator[dict[str, str]]:
    """The local Slack, PagerDuty and SMTP sinks, recording to ``store``; yield the Airflow connections to them.

    ``pagerduty_default`` is a ``pagerduty_events`` connection whose host is the sink (the routing key is its
    password), as ``alerts.pagerduty_connection`` names it.
    """
    import json
    import socket
    import sys

    from ml_platform.layout import free_ports

    http, smtp = free_ports(2)
    sinks = subprocess.Popen([sys.executable, "-m", "ml_platform.alert_sinks", "--http-port", str(http),
                              "--smtp-port", str(smtp), "--store", str(store)], start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", http), timeout=1), \
                    socket.create_connection(("127.0.0.1", smtp), timeout=1):
                break
            time.sleep(0.1)
        yield {"AIRFLOW_CONN_SLACK_ALERTS": json.dumps(
                   {"conn_type": "slackwebhook", "password": f"http://127.0.0.1:{http}/services/T0/B0/x"}),
               "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(
                   {"conn_type": "smtp", "host": "127.0.0.1", "port": smtp,
                    "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "ml@localhost"}}),
               "AIRFLOW_CONN_PAGERDUTY_DEFAULT": json.dumps(
                   {"conn_type": "pagerduty_events", "host": f"http://127.0.0.1:{http}",
                    "password": PAGERDUTY_ROUTING_KEY})}
    finally:
        sinks.terminate()
        sinks.wait(timeout=10)
