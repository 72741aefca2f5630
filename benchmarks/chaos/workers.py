"""The chaos case of the CeleryExecutor: a Celery worker SIGKILLed with its whole process group while a model
trains on it and drill tasks sleep on it. Returns a ``Case`` (``cases.py``).

What should happen: the supervisor restarts the worker; the killed tasks stop heartbeating, so the scheduler fails
their try once the task-instance heartbeat timeout has passed (30 s on this platform, checked every 5 s:
``ml_platform.components``) and retries it after its retry delay on the restarted worker. The broker does not
redeliver the killed tasks' messages earlier than its visibility timeout (6 h), so each task runs again once, as
Airflow's retry, not twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import time

import psutil

from benchmarks.chaos.cases import MODEL_RETRY_DELAY_S, Case, versions_of_run
from benchmarks.chaos.runs import drill_runs, wait_runs
from tests.support.chaos import (
    DRILL,
    TRAINING,
    ChaosPlatform,
    component,
    kill_component,
    tries,
    wait_restarted,
    wait_task_state,
)

WORKER = "celery-worker-1"
HEARTBEAT_TIMEOUT_S, DETECTION_INTERVAL_S = 30, 5  # ml_platform.components: TASK_INSTANCE_HEARTBEAT_TIMEOUT(_...)
DETECTED_WITHIN_S = HEARTBEAT_TIMEOUT_S + DETECTION_INTERVAL_S + 10  # and a scheduler loop or two of slack
# Detection (<= 45 s), the retry delay (5 s), a hand-off to the restarted worker, then the killed work again from its
# start: the drill's 60 s sleep, or train_model and the three tasks after it (about 40 s on 2 cores).
RESUMED_WITHIN_S = 150


def task_processes(worker_pid: int) -> list[psutil.Process]:
    """The processes under a worker that left its process group: Airflow runs each task in a group of its own."""
    with contextlib.suppress(psutil.NoSuchProcess):
        found = []
        for proc in psutil.Process(worker_pid).children(recursive=True):
            with contextlib.suppress(psutil.NoSuchProcess, ProcessLookupError):
                if proc.pid != worker_pid and os.getpgid(proc.pid) != worker_pid:
                    found.append(proc)
        return found
    return []


def alive(procs: list[psutil.Process]) -> list[int]:
    """The pids of ``procs`` still running (not zombies)."""
    running = []
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                running.append(proc.pid)
    return running


def running_now(p: ChaosPlatform, run_id: str, sleepers: list[str]) -> list[str]:
    """Which of the case's tasks are running: ``train_model`` and ``drill <n>``."""
    states = {ti["task_id"]: ti["state"] for ti in p.client.task_instances(TRAINING, run_id)}
    drills = [next((ti["state"] for ti in p.client.task_instances(DRILL, r)), None) for r in sleepers]
    return (["train_model"] if states.get("train_model") == "running" else []) + [
        f"drill {i}" for i, state in enumerate(drills, 1) if state == "running"]


def seconds_after(stamp: str | None, since: dt.datetime) -> float | None:
    """Seconds from ``since`` to the API's ISO timestamp ``stamp``."""
    return round((dt.datetime.fromisoformat(stamp) - since).total_seconds(), 1) if stamp else None


def killed_tries(p: ChaosPlatform, run_id: str, sleepers: list[str], killed_at: dt.datetime) -> list[list[dict]]:
    """The tries (oldest first) of the case's tasks whose first try began before the kill."""
    found = [tries(p.client, TRAINING, run_id).get("train_model", [])] + [
        tries(p.client, DRILL, r).get("fail_as_asked", []) for r in sleepers]
    return [t for t in found if t and (seconds_after(t[0].get("start_date"), killed_at) or 0) < 0]


def celery_worker_killed(p: ChaosPlatform, logical_date: str, drills: int = 3, sleep_s: int = 60) -> Case:
    """The Celery worker SIGKILLed (its process group) while ``train_model`` and ``drills`` sleeping drill tasks
    run on it: every run completes, the training registers one version, and the killed tries are detected and the
    runs finished within the bounds above."""
    case = Case("celery_worker_killed", f"{WORKER} SIGKILLed (its whole process group) while train_model and "
                                        f"{drills} drill tasks ({sleep_s} s sleeps) run on it")
    run_id = p.client.trigger(TRAINING, logical_date)["dag_run_id"]
    sleepers = drill_runs(p, [{"mode": "sleep", "sleep_seconds": sleep_s}] * drills)
    for sleeper in sleepers:
        wait_task_state(p.client, DRILL, sleeper, "fail_as_asked", {"running"}, timeout=300)
    wait_task_state(p.client, TRAINING, run_id, "train_model", {"running", "success"}, timeout=600)
    hit = running_now(p, run_id, sleepers)
    old = component(p.layout, WORKER)["pid"]
    tasks = task_processes(old)
    killed_at, killed_wall = time.monotonic(), dt.datetime.now(dt.UTC)
    kill_component(p.layout, WORKER)
    restarted_s = wait_restarted(p.layout, WORKER, old)
    outliving = alive(tasks)
    training = wait_runs(p, TRAINING, [run_id], timeout=900)
    states = wait_runs(p, DRILL, sleepers, timeout=600)
    completed_s = time.monotonic() - killed_at
    killed = killed_tries(p, run_id, sleepers, killed_wall)
    detected = [seconds_after(t[0].get("end_date"), killed_wall) for t in killed]
    retried = [seconds_after(t[1].get("start_date"), killed_wall) if len(t) > 1 else None for t in killed]
    versions = versions_of_run(p, run_id)
    case.figures = {"running_at_kill": hit, "task_processes_at_kill": len(tasks),
                    "task_processes_outliving_kill": len(outliving), "restarted_after_s": round(restarted_s, 1),
                    "tries_of_killed_tasks": [len(t) for t in killed],
                    "try_1_ended_s_after_kill": detected, "try_2_started_s_after_kill": retried,
                    "runs_completed_after_s": round(completed_s, 1), "training_run": training.get(run_id),
                    "drill_runs": [states.get(r) for r in sleepers], "registered_versions": versions,
                    "task_processes_alive_at_end": len(alive(tasks))}
    case.goal("fault_hit", hit, f"train_model and {drills} drill tasks running at the kill",
              len(hit) == drills + 1)
    case.goal("every_run_completed", [training.get(run_id), *case.figures["drill_runs"]], "all success",
              training.get(run_id) == "success" and all(states.get(r) == "success" for r in sleepers))
    case.goal("no_duplicate_versions", len(versions), "exactly 1", len(versions) == 1)
    known = [s for s in detected if s is not None]
    case.goal("lost_tries_detected_s", max(known, default=None),
              f"every killed try failed <= {DETECTED_WITHIN_S} s after the kill (heartbeat timeout "
              f"{HEARTBEAT_TIMEOUT_S} s)", bool(killed) and len(known) == len(killed)
              and max(known) <= DETECTED_WITHIN_S)
    case.goal("runs_resumed_s", round(completed_s), f"all runs ended <= {RESUMED_WITHIN_S} s after the kill "
              f"(detection, a {MODEL_RETRY_DELAY_S:.0f} s retry delay, the work again)",
              completed_s <= RESUMED_WITHIN_S)
    return case
