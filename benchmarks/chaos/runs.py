"""The chaos cases of runs in flight: bad data landing, the database restarted, the scheduler killed, and many runs
failing transiently at random. Each returns a ``Case`` (``cases.py``)."""

from __future__ import annotations

import contextlib
import datetime as dt
import random
import shutil
import signal
import time

from benchmarks.chaos.cases import (
    DRILL_MAX_DELAY_S,
    DRILL_RETRY_DELAY_S,
    Case,
    backoff_respected,
    versions_of_run,
)
from ml_pipeline_airflow.drills import FAILING_SOON
from ml_platform import dead_letter_ops
from ml_platform.airflow_api import AirflowApiError
from tests.support.chaos import (
    DRILL,
    TRAINING,
    ChaosPlatform,
    SpoolWatch,
    component,
    keep_down,
    kill_component,
    tries,
    wait_restarted,
    wait_task_state,
)
from tests.support.fleet import DAY

TRY_FAILURE_RATE = 0.10
DRILL_TRIES = 4  # retries: 3


def drill_runs(p: ChaosPlatform, confs: list[dict]) -> list[str]:
    """Trigger one drill run per conf; their run ids."""
    return [p.client.trigger(DRILL, None, conf=conf)["dag_run_id"] for conf in confs]


def wait_runs(p: ChaosPlatform, dag_id: str, run_ids: list[str], timeout: float = 900) -> dict[str, str]:
    """Each run's state once all ended (or ``timeout``), read in pages."""
    deadline, wanted, states = time.monotonic() + timeout, set(run_ids), {}
    while True:
        with contextlib.suppress(AirflowApiError):  # an API server whose database was just restarted
            states = {r["dag_run_id"]: r["state"] for r in p.client.pages(f"/dags/{dag_id}/dagRuns", "dag_runs")
                      if r["dag_run_id"] in wanted}
        if all(states.get(r) in ("success", "failed") for r in run_ids) or time.monotonic() > deadline:
            return states
        time.sleep(3)


def wait_api(p: ChaosPlatform, timeout: float = 300) -> float:
    """Seconds until the REST API answers a read again."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with contextlib.suppress(AirflowApiError):
            p.client.request("GET", f"/dags/{DRILL}")
            return time.monotonic() - started
        time.sleep(0.5)
    raise TimeoutError(f"the Airflow API did not answer within {timeout:.0f} s")


def letters_of(p: ChaosPlatform, run_ids: list[str]) -> dict[str, list]:
    """The dead letters (any status) of ``run_ids``, by run id; reading the queue drains the spool first."""
    found: dict[str, list] = {}
    for letter in dead_letter_ops.store(p.layout).list(status=None):
        if letter.run_id in run_ids:
            found.setdefault(letter.run_id, []).append(letter)
    return found


def bad_data(p: ChaosPlatform, logical_date: str, fault: str, others: int = 3) -> Case:
    """``fault`` (``corrupt_file`` or ``partition_deleted``) lands while drill runs are in flight; the training run
    it hits fails with an error naming the file or the partition, and the drill runs are unaffected.

    Both fail on the first try, not retried: a corrupt file is bad data, and a partition missing while a later one
    of the same dataset has landed was deleted (``DeletedPartitionError``, permanent), not late.
    """
    dataset = p.layout.lake / "impressions"
    partition = dataset / (DAY - dt.timedelta(days=1)).isoformat()
    corrupt, kept = dataset / DAY.isoformat() / "part-99999.parquet", p.layout.home / "kept-partition"
    named = corrupt.name if fault == "corrupt_file" else partition.name
    what = "a corrupt parquet file landed" if fault == "corrupt_file" else "a partition deleted"
    case = Case(f"bad_data_{fault}", f"{what} while other runs are in flight")
    bystanders = drill_runs(p, [{"mode": "sleep", "sleep_seconds": 10}] * others)
    if fault == "corrupt_file":
        corrupt.write_bytes(b"PAR1 this is no parquet file")
    else:
        shutil.move(partition, kept)
    started = time.monotonic()
    try:
        run_id = p.client.trigger(TRAINING, logical_date)["dag_run_id"]
        state = p.client.wait_for_run(TRAINING, run_id, timeout=900)
        failed_after = time.monotonic() - started
        states = wait_runs(p, DRILL, bystanders, timeout=300)
    finally:
        corrupt.unlink(missing_ok=True)
        if kept.exists():
            shutil.move(kept, partition)
    failed = [(task, t) for task, t in tries(p.client, TRAINING, run_id).items() if t[-1]["state"] == "failed"]
    letter = next(iter(letters_of(p, [run_id]).get(run_id, [])), None)
    message = f"{letter.exception_type}: {letter.exception_message}" if letter else "no dead letter"
    task, task_tries = failed[0] if failed else (None, [])
    case.figures = {"run_id": run_id, "run_state": state, "failed_task": task, "tries_of_failed_task": len(task_tries),
                    "seconds_to_failure": round(failed_after, 1), "error": message[:300],
                    "other_runs": sorted(set(states.values()))}
    case.goal("run_failed_fast", len(task_tries), "failed on its 1st try (not retried)",
              state == "failed" and len(task_tries) == 1)
    case.goal("clear_error", message[:60], f"the dead letter names {named}", named in message)
    case.goal("others_unaffected", case.figures["other_runs"], "all success", set(states.values()) == {"success"})
    return case


def failing_soon(p: ChaosPlatform, run_ids: list[str], timeout: float = 300) -> dict[str, float]:
    """When (monotonic) each run's delayed permanent failure logged that it read the Variable and will fail.

    Read from the task logs on disk, not the API: the database is about to go down. Returns once every run logged
    it, or at ``timeout`` with those that did.
    """
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    while len(seen) < len(run_ids) and time.monotonic() < deadline:
        for log in p.layout.airflow_home.rglob("attempt=1.log"):
            run_id = next((r for r in run_ids if r not in seen and f"run_id={r}" in str(log)), None)
            if run_id and FAILING_SOON in log.read_text(errors="replace"):
                seen[run_id] = time.monotonic()
        time.sleep(0.1)
    return seen


def postgres_restarted(p: ChaosPlatform, sleeping: int = 4, permanent: int = 2, outage_s: float = 20,
                       fail_after_s: int = 6) -> Case:
    """The platform's PostgreSQL SIGKILLed mid-run (kept down ``outage_s``, then restarted by the supervisor) while
    runs sleep and permanently failing tasks are ``fail_after_s`` from their failure: the failures land in the
    outage, so their callbacks find no database and spool their dead letters. The runs complete, each failed run
    has exactly one pending dead letter, and nothing is left in the spool.

    The failure's report to the API server may be lost with the database too (the supervisor's state update fails
    all its tries): the task instance stays ``running``, and Airflow runs it again (the restarted scheduler's orphan
    check resets it; an executor's "failed" for a running task with retries left does the same). That second try
    fails the same way, and its letter supersedes the spooled one (``DeadLetterStore.supersede_older_tries``).
    """
    case = Case("postgres_restarted", f"embedded PostgreSQL SIGKILLed mid-run and kept down {outage_s:.0f} s; "
                                      f"failing tasks fail {fail_after_s} s into it; the supervisor restarts it")
    sleepers = drill_runs(p, [{"mode": "sleep", "sleep_seconds": 40}] * sleeping)
    for run_id in sleepers:
        wait_task_state(p.client, DRILL, run_id, "fail_as_asked", {"running"}, timeout=300)
    failing = drill_runs(p, [{"mode": "permanent", "fail_after_seconds": fail_after_s}] * permanent)
    ready = failing_soon(p, failing)  # each read the Variable (which needs the database): its failure is coming
    old = component(p.layout, "postgres")["pid"]
    with SpoolWatch(p.layout.dlq_spool) as watch:
        killed_at = time.monotonic()
        kills = keep_down(p.layout, "postgres", outage_s)
        restarted_s = wait_restarted(p.layout, "postgres", old, timeout=120)
        api_s = wait_api(p)
        states = wait_runs(p, DRILL, sleepers + failing, timeout=600)
    letters = letters_of(p, failing)  # the queue's reader drains the spool first
    left = len(list(p.layout.dlq_spool.glob("*.json"))) if p.layout.dlq_spool.exists() else 0
    failed_tries = {r: tries(p.client, DRILL, r).get("fail_as_asked", []) for r in failing}
    case.figures = {"postgres_kills": kills, "back_after_s": round(restarted_s, 1),
                    "api_answering_again_after_s": round(api_s, 1),
                    "failures_due_s_after_kill": [round(ready[r] + fail_after_s - killed_at, 1) if r in ready
                                                  else None for r in failing],
                    "sleeping_runs": [states.get(r) for r in sleepers],
                    "permanent_runs": [states.get(r) for r in failing], "letters_spooled": len(watch.seen),
                    "tries_of_failed_tasks": [len(failed_tries[r]) for r in failing],
                    "dead_letters_per_failed_run": [sum(x.status == "pending" for x in letters.get(r, []))
                                                    for r in failing],
                    "letters_of_each_try": [sorted(f"try {x.try_number}: {x.status}" for x in letters.get(r, []))
                                            for r in failing],
                    "dead_letter_errors": sorted({x.exception_type for r in failing for x in letters.get(r, [])}),
                    "spool_left": left}
    case.goal("runs_completed", case.figures["sleeping_runs"], "all success",
              set(case.figures["sleeping_runs"]) == {"success"})
    case.goal("spooled_during_outage", len(watch.seen), ">= 1 letter in the spool while the database is down",
              len(watch.seen) >= 1)
    case.goal("failures_in_dlq", case.figures["dead_letters_per_failed_run"], "exactly one pending letter per failed "
              "run (an earlier try's superseded)",
              case.figures["permanent_runs"] == ["failed"] * permanent
              and case.figures["dead_letters_per_failed_run"] == [1] * permanent)
    case.goal("spool_drained", left, "0 files left", left == 0)
    return case


def scheduler_killed(p: ChaosPlatform, logical_date: str, drills: int = 4) -> Case:
    """The scheduler SIGKILLed while a model trains and drill runs are in flight: every run completes and the
    training registers one version, not two."""
    case = Case("scheduler_killed", "scheduler SIGKILLed (with its LocalExecutor workers) mid-run"
                if p.executor == "local" else "scheduler SIGKILLed mid-run (the Celery worker keeps its tasks)")
    sleepers = drill_runs(p, [{"mode": "sleep", "sleep_seconds": 20}] * (drills // 2))
    others = sleepers + drill_runs(p, [{"mode": "transient", "failures": 1}] * (drills - drills // 2))
    for sleeper in sleepers:  # tasks surely running when the scheduler dies
        wait_task_state(p.client, DRILL, sleeper, "fail_as_asked", {"running"}, timeout=300)
    run_id = p.client.trigger(TRAINING, logical_date)["dag_run_id"]
    wait_task_state(p.client, TRAINING, run_id, "train_model", {"running", "success"}, timeout=600)
    old, killed_at = kill_component(p.layout, "scheduler", signal.SIGKILL), time.monotonic()
    restarted_s = wait_restarted(p.layout, "scheduler", old)
    training = wait_runs(p, TRAINING, [run_id], timeout=900)
    states = wait_runs(p, DRILL, others, timeout=600)
    completed_s = time.monotonic() - killed_at
    versions = versions_of_run(p, run_id)
    case.figures = {"restarted_after_s": round(restarted_s, 1), "runs_completed_after_s": round(completed_s, 1),
                    "training_run": training.get(run_id), "drill_runs": sorted(set(states.values())),
                    "registered_versions": versions}
    case.goal("every_run_completed", [training.get(run_id), *case.figures["drill_runs"]], "all success",
              training.get(run_id) == "success" and set(states.values()) == {"success"})
    case.goal("no_duplicate_versions", len(versions), "exactly 1", len(versions) == 1)
    # The tasks the dead scheduler was running are its orphans: only its successor's orphan check (Airflow's
    # orphaned_tasks_check_interval) hands them back, so this measures that setting.
    case.goal("runs_resumed_s", round(completed_s), "all runs ended <= 180 s after the kill", completed_s <= 180)
    return case


def failures_at_random(seed: int) -> int:
    """Leading tries of one run that fail: each fails with ``TRY_FAILURE_RATE``, independently."""
    rng, failures = random.Random(seed), 0
    while failures < DRILL_TRIES and rng.random() < TRY_FAILURE_RATE:
        failures += 1
    return failures


def transient_at_random(p: ChaosPlatform, runs: int = 200, seed: int = 20) -> Case:
    """``runs`` drill runs, each try failing transiently with 10 % probability: ≥ 99.5 % succeed, each failure is
    retried after its backoff, and no run that succeeded is in the dead-letter queue."""
    case = Case("transient_failures_at_random", f"{runs} runs, {TRY_FAILURE_RATE:.0%} of task tries failing "
                                                "transiently at random")
    plan = [failures_at_random(seed * 100_000 + i) for i in range(runs)]
    started = time.monotonic()
    run_ids = drill_runs(p, [{"mode": "transient", "failures": f} for f in plan])
    states = wait_runs(p, DRILL, run_ids, timeout=1200)
    wall = time.monotonic() - started
    retried = [r for r, f in zip(run_ids, plan, strict=True) if f]
    gaps_ok = [bool(backoff_respected(tries(p.client, DRILL, r)["fail_as_asked"], DRILL_RETRY_DELAY_S,
                                      DRILL_MAX_DELAY_S))
               for r in retried]
    letters = letters_of(p, run_ids)
    succeeded = [r for r in run_ids if states.get(r) == "success"]
    case.figures = {"runs": runs, "failed_tries_injected": sum(plan), "tries": runs + sum(min(f, DRILL_TRIES - 1)
                                                                                          for f in plan),
                    "runs_succeeded": len(succeeded), "success_rate": round(len(succeeded) / runs, 4),
                    "runs_retried": len(retried), "retried_after_backoff": sum(gaps_ok),
                    "dead_letters": sum(map(len, letters.values())),
                    "dead_letters_of_succeeded_runs": sum(len(letters.get(r, [])) for r in succeeded),
                    "wall_s": round(wall, 1)}
    case.goal("success_rate", case.figures["success_rate"], ">= 0.995", case.figures["success_rate"] >= 0.995)
    case.goal("retried_with_backoff", f"{sum(gaps_ok)}/{len(retried)}", "every retried run",
              all(gaps_ok) and len(gaps_ok) == len(retried))
    case.goal("dlq_clean", case.figures["dead_letters_of_succeeded_runs"], "0 letters of runs that succeeded",
              case.figures["dead_letters_of_succeeded_runs"] == 0)
    return case
