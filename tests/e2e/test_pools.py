"""Twenty models' training waits for its pools at the same moment on CeleryExecutor (real PostgreSQL and Redis; the
pools are closed while the runs start, then opened): the task instances' own start and end times prove that the
`gpu` pool (1 slot) and the `training` pool (3 slots) were never exceeded, that the slots went to the waiting models
by priority, and that every model finished.

The fleet is dropped into the end-to-end suites' Celery platform (``conftest.py``; one start fewer on two cores),
and removed afterwards. No GPU here: that platform is told it has one (`ML_PLATFORM_GPUS=1`), so `training.device:
auto` models take the `gpu` pool, and on the worker they fall back to the CPU, which their MLflow run records. The
worker's pool processes, which run the tasks, run below the scheduler's and the worker master's CPU priority.
"""

import contextlib
import datetime as dt
import time
from pathlib import Path

import psutil
import pytest
from mlflow import MlflowClient

from ml_platform.airflow_api import AirflowClient
from ml_platform.secrets import ensure_secrets
from ml_platform.state import read_state
from tests.support.fleet import on_auto, write_fleet

pytestmark = [pytest.mark.e2e, pytest.mark.celery_only]
MODELS = 20
SLOTS = {"gpu": 1, "training": 3}
AUTO = {i for i in range(MODELS) if on_auto(i)}  # the gpu pool (the platform says it has a GPU), the rest training


@pytest.fixture(scope="module")
def fleet(platform):
    """The shared Celery platform with the fleet's twenty models (removed afterwards, their pools as they were)."""
    layout, env, _ = platform
    folder = Path(env["ML_PIPELINE_CONFIG_DIR"])
    before = set(folder.iterdir())
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    slots = {pool: client.request("GET", f"/pools/{pool}")["slots"] for pool in SLOTS}
    assert slots == SLOTS, "the Celery platform is started with one GPU and three training slots (conftest.py)"
    configs = write_fleet(folder, layout.lake, MODELS, rules=False)
    try:
        yield layout, configs, client
    finally:  # paused first: after a failure, no run of theirs goes on while the platform stops
        for dag_id in configs:
            with contextlib.suppress(Exception):
                client.request("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
        for path in set(folder.iterdir()) - before:
            path.unlink()
        with contextlib.suppress(Exception):
            set_slots(client, SLOTS)
        client.close()


def most_at_once(intervals: list[tuple[dt.datetime, dt.datetime]]) -> int:
    """The largest number of intervals open at one instant (one ending as another starts: not overlapping)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = peak = 0
    for _, step in events:
        open_now += step
        peak = max(peak, open_now)
    return peak


def set_slots(client: AirflowClient, slots: dict[str, int]) -> None:
    for pool, count in slots.items():
        client.request("PATCH", f"/pools/{pool}", params={"update_mask": "slots"},
                       json={"pool": pool, "slots": count, "include_deferred": False})


def wait_for_training(client: AirflowClient, runs: dict[str, str], timeout: float,
                      until: frozenset[str] | set[str] = frozenset({"success"})) -> dict[str, dict]:
    """Each run's ``train_model`` task instance once every one is in a state of ``until`` (or the first failure)."""
    deadline = time.monotonic() + timeout
    while True:
        trains = {dag_id: client.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/train_model")
                  for dag_id, run_id in runs.items()}
        states = {ti["state"] for ti in trains.values()}
        if states <= until or states & {"failed", "upstream_failed"} or time.monotonic() > deadline:
            return trains
        time.sleep(5)


def at(ti: dict, field: str) -> dt.datetime:
    return dt.datetime.fromisoformat(ti[field])


def test_twenty_models_train_at_once_and_the_pools_are_never_exceeded(fleet):
    layout, configs, client = fleet
    components = read_state(layout.state_file)["components"]
    worker = psutil.Process(next(c["pid"] for name, c in components.items() if name.startswith("celery-worker")))
    # `up` waited for the worker to answer a ping, which it does once its pool has forked; each pool process lowers
    # its priority as it starts
    deadline = time.monotonic() + 30
    while True:
        pool = [child for child in worker.children() if "ForkPoolWorker" in " ".join(child.cmdline())]
        if (pool and {p.nice() for p in pool} == {10}) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert pool and {p.nice() for p in pool} == {10}, "the Celery pool runs tasks at ML_PLATFORM_TASK_NICE (10)"
    assert worker.nice() == psutil.Process(components["scheduler"]["pid"]).nice() == 0
    for dag_id in configs:
        client.wait_for_dag(dag_id, timeout=300)
        client.unpause(dag_id)
    # The pools closed while the runs start: every model's training then waits for its pool at the same moment,
    # so the order in which the slots are handed out is the scheduler's choice alone, not the upstream tasks' pace.
    set_slots(client, dict.fromkeys(SLOTS, 0))
    runs = {dag_id: client.trigger(dag_id, "2026-11-20T06:00:00Z")["dag_run_id"] for dag_id in configs}
    waiting = wait_for_training(client, runs, timeout=600, until={"scheduled"})
    assert {ti["state"] for ti in waiting.values()} == {"scheduled"}, {d: ti["state"] for d, ti in waiting.items()}
    set_slots(client, SLOTS)
    trains = wait_for_training(client, runs, timeout=900)
    assert {ti["state"] for ti in trains.values()} == {"success"}, {d: ti["state"] for d, ti in trains.items()}
    states = {dag_id: client.wait_for_run(dag_id, run_id, timeout=600) for dag_id, run_id in runs.items()}
    assert set(states.values()) == {"success"}, states  # every model went on to evaluate, register and notify

    for dag_id, ti in trains.items():  # each model's pool and priority come from its config
        expected_pool = "gpu" if configs[dag_id]["training"]["device"] == "auto" else "training"
        assert (ti["pool"], ti["priority_weight"]) == (expected_pool, configs[dag_id]["training"]["priority_weight"])
    for pool, slots in SLOTS.items():
        members = [ti for ti in trains.values() if ti["pool"] == pool]
        assert len(members) == (len(AUTO) if pool == "gpu" else MODELS - len(AUTO))
        running = [(at(ti, "start_date"), at(ti, "end_date")) for ti in members]
        assert most_at_once(running) <= slots, f"pool {pool} ran more than its {slots} slot(s) at once"
        waiting = [(at(ti, "scheduled_when"), at(ti, "end_date")) for ti in members]
        assert most_at_once(waiting) == len(members) > slots, f"pool {pool}: its models did not all wait at once"
        # All waited together, so the pool handed its slots out by priority alone, highest first (the first
        # `slots` of them in one scheduler loop: queued within a second of each other, in any order).
        for ti in members:
            passed_over = [other["dag_id"] for other in members if other["priority_weight"] > ti["priority_weight"]
                           and at(other, "queued_when") > at(ti, "queued_when") + dt.timedelta(seconds=1)]
            assert passed_over == [], f"{ti['dag_id']} (priority {ti['priority_weight']}) went before {passed_over}"

    mlflow = MlflowClient(layout.mlflow_url)
    for dag_id, reason in (("ml_training_ctr_00", "training.device is auto: XGBoost is the CPU-only build"),
                           ("ml_training_ctr_01", "training.device is cpu")):
        run = mlflow.get_run(client.xcom(dag_id, runs[dag_id], "train_model")["mlflow_run_id"])
        assert run.data.params["device"] == "cpu"
        assert run.data.tags["training.device_reason"].startswith(reason), run.data.tags["training.device_reason"]
