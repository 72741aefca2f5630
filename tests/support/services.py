"""Real services for integration tests, started from the platform's own component specs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx

from ml_platform import database
from ml_platform.components import components, platform_env
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.supervisor import stop_process_tree


@contextlib.contextmanager
def postgres_and_mlflow(layout: Layout) -> Iterator[dict[str, str]]:
    """Run the platform's PostgreSQL and MLflow server; yield the platform environment."""
    env = {**os.environ, **platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))}
    specs = {c.name: c for c in components(layout)}
    procs = []
    try:
        database.ensure_initialized(layout)
        for name in ("postgres", "mlflow"):
            spec = specs[name]
            log = open(layout.logs / f"{name}.log", "ab")  # noqa: SIM115
            procs.append((spec, subprocess.Popen(spec.argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                                 start_new_session=True, user=spec.user, cwd=layout.home)))
            if name == "postgres":
                database.wait_ready(layout)
                database.ensure_databases(layout)
        wait_http(f"{layout.mlflow_url}/health", timeout=120)
        yield env
    finally:
        for spec, proc in reversed(procs):
            stop_process_tree(proc.pid, getattr(signal, spec.stop_signal))
            proc.wait(timeout=10)


def wait_http(url: str, timeout: float) -> None:
    """Block until ``url`` answers 200, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f}s")
