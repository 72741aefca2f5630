"""Faults for the chaos suite (``benchmarks/chaos``, ``tests/e2e/test_chaos.py``) and a platform to inject them into.

The platform is the embedded one (``make up``) with one small click-through model that has an endpoint: the fleet's
``ctr_00`` (``tests/support/fleet.py``) given ``recommendation-api``, retries 5 s apart doubling (so that a 60 s
outage is outlived by the retries) and no live-performance watch (a deployment run ends once production is
verified). Faults are real: components are SIGKILLed (their whole process group, as an OOM kill or a lost node would)
and the supervisor restarts them; traffic is real HTTP against the model server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import polars as pl
import yaml

from ml_pipeline.process_env import overlay
from ml_platform.airflow_api import AirflowClient
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.state import is_alive, read_state
from tests.support.fleet import DAY, write_fleet
from tests.support.platforms import PAUSED_AT_CREATION, make
from tests.support.services import mlflow_login

MODEL = "ctr_00"
ENDPOINT = "recommendation-api"
TRAINING = f"ml_training_{MODEL}"
DEPLOYMENT = f"model_deployment_{MODEL}"
DRILL = "platform_failure_drill"


@dataclass
class ChaosPlatform:
    """A running platform and what the cases need of it."""

    layout: Layout
    env: dict[str, str]
    client: AirflowClient

    @property
    def executor(self) -> str:
        """``local`` or ``celery`` (``tests/support/platforms.executor_env``)."""
        return self.env.get("ML_PLATFORM_EXECUTOR", "local")

    @property
    def serving_url(self) -> str:
        """The model server's base URL."""
        return f"http://127.0.0.1:{self.layout.serving_endpoints()[ENDPOINT][1]}"

    def sample_rows(self, count: int = 5) -> list[dict]:
        """``count`` rows of the model's features, from the lake."""
        features = yaml.safe_load((Path(self.env["ML_PIPELINE_CONFIG_DIR"]) / f"{MODEL}.yaml").read_text())
        files = sorted((self.layout.lake / "impressions").glob("*/*.parquet"))
        return pl.read_parquet(files[0]).select(features["data"]["features"]).head(count).to_dicts()


def write_model(folder: Path, lake: Path, rules: bool = True) -> None:
    """The fleet's first model, with an endpoint, quick retries and no watch window (``write_fleet``'s ``rules``)."""
    write_fleet(folder, lake, 1, rules=rules)
    path = folder / f"{MODEL}.yaml"
    raw = yaml.safe_load(path.read_text())
    raw.update(retries=5, retry_delay_seconds=5, max_retry_delay_seconds=60)
    raw["deployment"].update(endpoint_name=ENDPOINT, min_auc_threshold=0.5, watch={"window_days": 0})
    path.write_text(yaml.safe_dump(raw))


@contextlib.contextmanager
def chaos_platform(home: Path) -> Iterator[ChaosPlatform]:
    """``make up`` a platform in ``home`` with the chaos model; ``make down`` afterwards."""
    layout = Layout.on_free_ports(home)
    folder = home / "model_configs"
    write_model(folder, layout.lake)
    (home / "platform_health.yaml").write_text("schedule: null\n")  # the cases trigger it when they need it
    env = {**os.environ, **layout.port_env(), **PAUSED_AT_CREATION, "ML_PIPELINE_CONFIG_DIR": str(folder)}
    # dead_letter_ops and serving_endpoints read the instance from the environment
    with overlay(env), contextlib.ExitStack() as stack:
        stack.callback(make, "down", env, timeout=300)
        started = make("up", env)
        if started.returncode != 0:
            raise RuntimeError(f"the platform did not start: {started.stdout[-3000:]}{started.stderr[-3000:]}")
        with ready(layout, env) as platform:
            yield platform


@contextlib.contextmanager
def chaos_model_on(layout: Layout, env: dict[str, str]) -> Iterator[ChaosPlatform]:
    """The chaos model dropped into a running platform (its config into ``ML_PIPELINE_CONFIG_DIR``, its data into
    the lake), as a user adds a model; afterwards its config is removed and its model server gone, so that the
    platform's other tests find it as it was (its endpoint free, its DAGs no longer parsed)."""
    config = Path(env["ML_PIPELINE_CONFIG_DIR"]) / f"{MODEL}.yaml"
    write_model(config.parent, layout.lake, rules=False)
    try:
        with overlay(env), ready(layout, env) as platform:
            yield platform
    finally:
        config.unlink(missing_ok=True)
        deadline = time.monotonic() + 120
        while f"serving-{ENDPOINT}" in read_state(layout.state_file)["components"]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"serving-{ENDPOINT} still running 120 s after {config.name} was removed")
            time.sleep(0.5)


@contextlib.contextmanager
def ready(layout: Layout, env: dict[str, str]) -> Iterator[ChaosPlatform]:
    """The running platform once the chaos model's DAGs are parsed, its deployments paused."""
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    for dag_id in (TRAINING, DEPLOYMENT, DRILL):
        client.wait_for_dag(dag_id, timeout=300)
    # deployments only when a case triggers one: each training's challenger would start one otherwise
    client.request("PATCH", f"/dags/{DEPLOYMENT}", json={"is_paused": True})
    with mlflow_login(layout):  # the cases' MLflow clients: the platform's tasks' user
        yield ChaosPlatform(layout, env, client)


def component(layout: Layout, name: str) -> dict:
    """The supervisor's entry for ``name`` (pid, restarts)."""
    return read_state(layout.state_file)["components"][name]


def kill_component(layout: Layout, name: str, sig: int = signal.SIGKILL) -> int:
    """Signal ``name``'s whole process group; return the pid it had."""
    pid = component(layout, name)["pid"]
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    return pid


def wait_restarted(layout: Layout, name: str, old_pid: int, timeout: float = 120) -> float:
    """Seconds until the supervisor has ``name`` running again under a new pid."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        entry = component(layout, name)
        if entry.get("pid") not in (None, old_pid) and is_alive(entry["pid"]):
            return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{name} not restarted within {timeout:.0f} s")


def keep_down(layout: Layout, name: str, seconds: float, watch: Callable[[], None] | None = None) -> int:
    """Keep ``name`` dead for ``seconds``: SIGKILL it, and each restart the supervisor makes; return the kills.
    ``watch`` is called every 0.1 s meanwhile (to observe the outage)."""
    deadline, kills, last = time.monotonic() + seconds, 0, None
    while time.monotonic() < deadline:
        pid = component(layout, name).get("pid")
        if pid and pid != last and is_alive(pid):
            kill_component(layout, name)
            kills, last = kills + 1, pid
        if watch:
            watch()
        time.sleep(0.1)
    return kills


def wait_http(url: str, timeout: float = 180) -> float:
    """Seconds until ``url`` answers 200."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return time.monotonic() - started
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


@dataclass
class Load:
    """Prediction requests sent one after the other from a thread; every answer timed and kept."""

    url: str
    rows: list[dict]
    pause_s: float = 0.05
    answers: list[tuple[float, bool, str]] = field(default_factory=list)  # (monotonic time, ok, version or error)

    def __enter__(self) -> Load:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _send(self) -> None:
        with httpx.Client(timeout=10) as http:
            while not self._stop.is_set():
                try:
                    answer = http.post(f"{self.url}/predict", json={"rows": self.rows})
                    ok, what = answer.status_code == 200, (answer.json().get("version", "") if
                                                          answer.status_code == 200 else f"HTTP {answer.status_code}")
                except httpx.HTTPError as exc:
                    ok, what = False, type(exc).__name__
                self.answers.append((time.monotonic(), ok, str(what)))
                time.sleep(self.pause_s)

    def figures(self, since: float) -> dict:
        """Requests, failures and the time from ``since`` to the first success after the last failure."""
        failed = [t for t, ok, _ in self.answers if not ok]
        recovered = next((t for t, ok, _ in self.answers if ok and (not failed or t > failed[-1])), None)
        return {"requests": len(self.answers), "failed_requests": len(failed),
                "errors": sorted({what for _, ok, what in self.answers if not ok}),
                "versions_served": sorted({what for _, ok, what in self.answers if ok}),
                "time_to_recovery_s": round(recovered - since, 2) if failed and recovered else 0.0}


@dataclass
class SpoolWatch:
    """Every dead letter that appears in the spool folder while the watch runs (in a thread, every 0.1 s)."""

    folder: Path
    seen: set[str] = field(default_factory=set)

    def __enter__(self) -> SpoolWatch:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            with contextlib.suppress(OSError):
                self.seen.update(f.name for f in self.folder.glob("*.json"))


def tries(client: AirflowClient, dag_id: str, run_id: str) -> dict[str, list[dict]]:
    """Every try of every task of a run, by task id, oldest first."""
    out = {}
    for ti in client.task_instances(dag_id, run_id):
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{ti['task_id']}/tries"
        out[ti["task_id"]] = sorted(client.request("GET", path)["task_instances"], key=lambda t: t["try_number"])
    return out


def wait_task_state(client: AirflowClient, dag_id: str, run_id: str, task_id: str, states: set[str],
                    timeout: float = 300) -> dict:
    """The task instance once it is in one of ``states``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for ti in client.task_instances(dag_id, run_id):
            if ti["task_id"] == task_id and ti["state"] in states:
                return ti
        time.sleep(0.5)
    raise TimeoutError(f"{dag_id} {run_id} {task_id} never reached {states}")


def reference_day() -> str:
    """The logical date the fleet's data was generated for."""
    return f"{DAY.isoformat()}T06:00:00Z"
