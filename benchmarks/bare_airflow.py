"""Bare ``airflow standalone``: the baseline ``benchmarks/scale.py`` measures beside the platform, in the same run.

Airflow 3's own defaults (LocalExecutor, its API-server workers, its scheduler settings, no preloading), the same
PostgreSQL server the Celery profiles use (a database of its own, dropped afterwards), and none of the platform's
components (no MLflow, model servers, exporter, sinks). Two DAG folders:

- ``bare-standalone``: a folder holding only the probe DAG (``PROBE_DAG``: the platform's ``platform_scale_probe``
  written with nothing but ``airflow.sdk``), what a user who picks plain Airflow runs;
- ``bare-standalone-our-dags``: the platform's own DAG folder (``airflow/dags``, every model config, the probe among
  the drills), which splits what our DAG files cost from what our other components cost.

Only what ``airflow standalone`` cannot run without is set: where its home, database and DAG folder are, a free API
port (and the Task Execution API's URL on it), a known admin login for the probe's REST client, one JWT secret for
all its components, and no example DAGs (a folder holding only the probe).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg2

from ml_pipeline.deployment.client import free_port
from ml_platform.supervisor import stop_process_tree

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PROBE_DAG = '''"""The platform's scale probe in plain Airflow: three trivial tasks in a row."""
from airflow.sdk import DAG, task


@task
def probe() -> None:
    """Do nothing: what is measured is Airflow around it."""


with DAG("platform_scale_probe", schedule=None, catchup=False, max_active_runs=128, max_active_tasks=128,
         default_args={"owner": "benchmark", "retries": 0}):
    probe.override(task_id="first")() >> probe.override(task_id="second")() >> probe.override(task_id="third")()
'''
# a component's name in its command line (the API server renames its process ``airflow api_server -- …``)
COMPONENTS = {"scheduler": "scheduler", "api-server": "api-server", "api_server": "api-server",
              "dag-processor": "dag-processor", "triggerer": "triggerer"}


@contextlib.contextmanager
def standalone(home: Path, server_url: str, our_dags: bool) -> Iterator[dict]:
    """``airflow standalone`` in ``home`` on a new database of ``server_url``; yields its URL, login and pid.

    Stopped (its whole process group) and its database dropped afterwards.
    """
    database = f"mltest_bare_{uuid.uuid4().hex[:8]}"  # the test suites' prefix: a leftover is found the same way
    port, password = free_port(), secrets.token_urlsafe(12)
    dags = REPO / "airflow" / "dags" if our_dags else home / "dags"
    if not our_dags:
        dags.mkdir(parents=True, exist_ok=True)
        (dags / "platform_scale_probe.py").write_text(PROBE_DAG)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    parts = server_url.split("://", 1)[1]
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "ML_", "MLFLOW"))}
    env.update({
        "AIRFLOW_HOME": str(home / "airflow"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{parts}/{database}",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://localhost:{port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://localhost:{port}/execution/",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    })
    if our_dags:  # the platform's DAG files read the model configs; the lake is a folder of this run's
        env.update({"ML_PIPELINE_CONFIG_DIR": str(REPO / "config" / "model_configs"),
                    "ML_LAKE_URI": (home / "lake").as_uri()})
    admin = psycopg2.connect(f"{server_url}/postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{database}"')
    proc = None
    try:
        with open(home / "standalone.log", "ab") as log:
            proc = subprocess.Popen([str(BIN / "airflow"), "standalone"], env=env, cwd=home, stdout=log,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, proc, home / "standalone.log")
        yield {"url": url, "user": "admin", "password": password, "pid": proc.pid}
    finally:
        if proc is not None:  # its whole process group, as the supervisor stops a component
            stop_process_tree(proc.pid, timeout=60)
            proc.wait(timeout=10)
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.close()


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    """Block until every component reports healthy (``/api/v2/monitor/health``), or raise with the log's tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"airflow standalone exited ({proc.returncode}): {log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.HTTPError, ValueError):
            health = httpx.get(f"{url}/api/v2/monitor/health", timeout=5).json()
            if all((health.get(part) or {}).get("status") == "healthy"
                   for part in ("metadatabase", "scheduler", "dag_processor", "triggerer")):
                return
        time.sleep(2)
    raise TimeoutError(f"airflow standalone not healthy within {timeout:.0f} s: {log.read_text()[-3000:]}")


def component_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of ``airflow standalone`` and of each component it runs, and apart, ``task-processes``: its
    LocalExecutor's workers with the task processes they ran (``task_processes_cpu``)."""
    import psutil

    standalone_process = psutil.Process(pid)
    used = {"standalone": round(sum(standalone_process.cpu_times()[:2]), 1)}  # it relays every component's output
    for child in standalone_process.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            command = " ".join(child.cmdline())
            name = next((COMPONENTS[c] for c in COMPONENTS if f" {c}" in command), None)
            if name is None:
                continue
            tree = [child] if name == "scheduler" else [child, *child.children(recursive=True)]
            used[name] = round(sum(p.cpu_times().user + p.cpu_times().system for p in tree), 1)
            if name == "scheduler":
                used["task-processes"] = task_processes_cpu(child)
    return used


def task_processes_cpu(executor_process) -> float:
    """CPU seconds of the processes that run tasks under ``executor_process`` (a scheduler's LocalExecutor workers,
    a Celery worker's pool), the task processes each forked and reaped included (their ``children_*`` times): what
    the tasks cost, Airflow's task runner and supervisor with them, beside the components that schedule them. The
    executor's log server (``airflow serve-logs``, also its child) is in it too: about a tenth of a second."""
    import psutil

    total = 0.0
    for child in executor_process.children():
        with contextlib.suppress(psutil.NoSuchProcess):
            times = child.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
    return round(total, 1)
