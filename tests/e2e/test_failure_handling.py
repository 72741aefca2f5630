"""Failure handling on the real platform: retries with backoff, alerts over real HTTP and SMTP, the dead-letter
queue and its replay, a missed deadline, a killed worker. The drill DAGs run on the pipeline suite's platform, on
either executor (``conftest.py``); each test reads only its own runs' alerts and letters."""

import contextlib
import datetime as dt
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import psutil
import psycopg2
import pytest

from ml_pipeline.failures.dead_letters import DeadLetter
from ml_platform import database, dead_letter_ops
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.alert_sinks import read_alerts
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.e2e
DRILL = "platform_failure_drill"
ASSET_DRILL = "platform_asset_drill"
ASSET_DRILL_URI = "drill://platform/registered"  # drills.ASSET_DRILL_URI (this module imports no Airflow)
FIXED = "platform_drill_fixed"  # the Variable that fixes the drills' bug (drills.FIXED_VARIABLE)


@pytest.fixture
def drills(platform):
    """The shared platform (``conftest.py``), its drill DAGs parsed: its layout, environment and REST client."""
    layout, env, _ = platform
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    client.wait_for_dag(DRILL)
    return layout, env, client


def test_tasks_run_on_the_chosen_executor(drills, request):
    """On Celery, a real worker runs the task (its Celery task id is recorded): the test that fails when a celery
    release breaks the Celery provider (celery 5.7.0 vs apache-airflow-providers-celery 3.26.0, pinned away).
    Either executor imported the task stack before forking the task processes."""
    layout, _, client = drills
    executor = request.node.callspec.params["platform"]
    run_id, state = run_drill(client, {"mode": "transient", "failures": 0})
    assert state == "success"
    [ti] = client.task_instances(DRILL, run_id)
    # the metadata database: the real server's under Celery, the embedded one else
    conn = psycopg2.connect(database.database_url(layout, "airflow").replace("+psycopg2", ""))
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT external_executor_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
                        (DRILL, run_id))
            [(celery_task_id,)] = cur.fetchall()
    finally:
        conn.close()
    if executor == "celery":
        assert celery_task_id and len(celery_task_id) == 36, celery_task_id  # a Celery task uuid
        assert ti["hostname"] and ti["queue"] == "default"
    else:
        assert celery_task_id is None  # the LocalExecutor sets none
    # the process the tasks fork from imported the task stack first
    forks_from = (layout.logs / ("celery-worker-1.log" if executor == "celery" else "scheduler.log")).read_text()
    preloaded = re.search(r"preloaded the task stack in [\d.]+s \(\d+ modules, 0 failed\)", forks_from)
    assert preloaded, forks_from[-2000:]


def test_a_task_heartbeats_from_one_interval_after_its_start_not_at_once(drills):
    """The Task Execution API's access log, per task instance: a task shorter than Airflow's heartbeat interval
    (``[workers] min_heartbeat_interval``, 5 s) starts and ends with no heartbeat call (Airflow's supervisor sent one
    on its first look at every task; ``preload.heartbeat_after_start``), a longer one still heartbeats while it
    runs."""
    layout, _, client = drills

    def calls(run_id: str) -> tuple[list[str], float]:
        """The task instance's calls, ``"<method> <endpoint>"``, once its final state's call is logged, and how long
        it ran."""
        [ti] = client.task_instances(DRILL, run_id)
        start, end = (dt.datetime.fromisoformat(ti[key]) for key in ("start_date", "end_date"))
        ran_s = (end - start).total_seconds()
        path = re.compile(rf"method=(\w+) path=/execution/task-instances/{ti['id']}/(\w+)")
        deadline, seen = time.monotonic() + 30, []  # each call is logged as it is answered
        while "PATCH state" not in seen and time.monotonic() < deadline:
            time.sleep(0.5)
            seen = [" ".join(m.groups()) for m in path.finditer((layout.logs / "api-server.log").read_text())]
        return seen, ran_s

    short, state = run_drill(client, {"mode": "transient", "failures": 0})
    assert state == "success"
    short_calls, ran_s = calls(short)
    # (a machine so busy that the short task outlived the interval would heartbeat rightly)
    assert "PATCH run" in short_calls and (ran_s >= 5 or "PUT heartbeat" not in short_calls), (short_calls, ran_s)
    long, state = run_drill(client, {"mode": "sleep", "sleep_seconds": 8})
    assert state == "success"
    long_calls, ran_s = calls(long)
    assert "PATCH run" in long_calls and "PUT heartbeat" in long_calls, (long_calls, ran_s)


def run_drill(client: AirflowClient, conf: dict, dag_id: str = DRILL, timeout: float = 180) -> tuple[str, str]:
    run = client.trigger(dag_id, None, conf=conf)
    return run["dag_run_id"], client.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)


def tries(client: AirflowClient, run_id: str, task_id: str = "fail_as_asked") -> list[dict]:
    return client.request("GET", f"/dags/{DRILL}/dagRuns/{run_id}/taskInstances/{task_id}/tries")["task_instances"]


@contextlib.contextmanager
def drill_fix(client: AirflowClient) -> Iterator[Callable[[], None]]:
    """The drills' bug, unfixed (the Variable deleted if a test before left it); yields the fix; unfixed after."""

    def unfix() -> None:
        try:
            client.request("DELETE", f"/variables/{FIXED}")
        except AirflowApiError as exc:
            if exc.status != 404:
                raise

    unfix()
    try:
        yield lambda: client.request("POST", "/variables", json={"key": FIXED, "value": "yes"})
    finally:
        unfix()


def alerts_about(layout: Layout, run_id: str) -> list[dict]:
    return [a for a in read_alerts(layout.alerts_file) if run_id in (a.get("text", "") + a.get("subject", ""))]


def test_transient_failures_are_retried_with_exponential_backoff(drills):
    layout, _, client = drills
    run_id, state = run_drill(client, {"mode": "transient", "failures": 2})
    assert state == "success"
    attempts = sorted(tries(client, run_id), key=lambda t: t["try_number"])
    assert [(t["try_number"], t["state"]) for t in attempts] == [(1, "failed"), (2, "failed"), (3, "success")]
    gaps = [dt.datetime.fromisoformat(b["start_date"]) - dt.datetime.fromisoformat(a["end_date"])
            for a, b in zip(attempts, attempts[1:], strict=False)]
    assert gaps[0] >= dt.timedelta(seconds=2) and gaps[1] >= dt.timedelta(seconds=4), gaps  # 2 s, then doubled
    assert alerts_about(layout, run_id) == [], "a failure that healed itself alerts nobody"
    assert [d for d in dead_letter_ops.store(layout).list(status=None) if d.run_id == run_id] == []


def test_permanent_error_fails_once_alerts_each_channel_and_is_replayable(drills):
    with drill_fix(drills[2]) as fix:
        permanent_error_fails_once_alerts_each_channel_and_is_replayable(drills, fix)


def permanent_error_fails_once_alerts_each_channel_and_is_replayable(drills, fix: Callable[[], None]) -> None:
    layout, env, client = drills
    run_id, state = run_drill(client, {"mode": "permanent"})
    assert state == "failed"
    assert [t["try_number"] for t in tries(client, run_id)] == [1], "a bug must not be retried"
    deadline = time.monotonic() + 30
    while len(alerts_about(layout, run_id)) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    task_alerts = [a for a in alerts_about(layout, run_id)
                   if "failed for good" in a.get("text", "") or "fail_as_asked failed" in a.get("subject", "")]
    run_alerts = [a for a in alerts_about(layout, run_id) if a not in task_alerts]
    assert sorted(a["channel"] for a in task_alerts) == ["email", "slack"]  # one per channel: no retry, no repeat
    assert sorted(a["channel"] for a in run_alerts) == ["email", "slack"]  # and the run's own failure
    assert f"DAG run `{DRILL}` / `{run_id}` failed" in next(a for a in run_alerts if a["channel"] == "slack")["text"]
    received = task_alerts
    slack = next(a for a in received if a["channel"] == "slack")["text"]
    assert "*platform*: task `fail_as_asked` failed for good (try 1, permanent error, not retried)" in slack
    assert "Error: KeyError: \"drill: column 'amount' missing" in slack
    assert f"Log: {layout.airflow_url}/dags/{DRILL}/runs/" in slack
    listed_alerts = subprocess.run([str(REPO_ROOT / ".venv/bin/ml-pipeline"), "alerts"], env=env,
                                   capture_output=True, text=True).stdout
    assert "slack  :red_circle: *platform*: task `fail_as_asked` failed for good" in listed_alerts
    email = next(a for a in received if a["channel"] == "email")
    assert email["to"] == ["ml-alerts@localhost"] and "fail_as_asked failed: KeyError" in email["subject"]
    [letter] = [d for d in dead_letter_ops.store(layout).list() if d.run_id == run_id]
    assert (letter.task_id, letter.try_number, letter.exception_type) == ("fail_as_asked", 1, "KeyError")
    assert letter.conf == {"mode": "permanent"} and letter.model == "platform"

    fix()
    cli = str(REPO_ROOT / ".venv/bin/ml-pipeline")
    replayed = subprocess.run([cli, "dlq", "replay", str(letter.id)], env=env, capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stderr
    assert f"dead letter {letter.id}: replayed (cleared fail_as_asked in run {run_id}" in replayed.stdout
    assert client.wait_for_run(DRILL, run_id, timeout=120) == "success"
    listed = subprocess.run([cli, "dlq", "list"], env=env, capture_output=True, text=True).stdout
    assert run_id not in listed  # no longer pending


@pytest.mark.executor_independent  # deadlines are the triggerer's
def test_a_missed_deadline_alerts(drills):
    layout, _, client = drills
    run = client.trigger("platform_deadline_drill", None)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        missed = [a for a in alerts_about(layout, run["dag_run_id"]) if "missed its deadline" in a.get("text", "")
                  + a.get("subject", "")]
        if {a["channel"] for a in missed} == {"slack", "email"}:
            break
        time.sleep(1)
    assert {a["channel"] for a in missed} == {"slack", "email"}
    slack = next(a for a in missed if a["channel"] == "slack")["text"]
    assert "*platform*: DAG run `platform_deadline_drill`" in slack and "deadline of 0.1 min" in slack


def test_a_killed_worker_is_detected_and_its_task_retried(drills):
    _, _, client = drills
    run = client.trigger(DRILL, None, conf={"mode": "sleep", "sleep_seconds": 15})
    run_id, deadline = run["dag_run_id"], time.monotonic() + 90
    while time.monotonic() < deadline:
        [ti] = client.task_instances(DRILL, run_id)
        if ti["state"] == "running" and ti.get("pid"):
            break
        time.sleep(0.5)
    task_process = psutil.Process(ti["pid"])
    supervisor = task_process.parent()
    for proc in (supervisor, task_process):  # the whole worker: the task supervisor and the task itself
        os.kill(proc.pid, signal.SIGKILL)
    assert client.wait_for_run(DRILL, run_id, timeout=240) == "success"
    attempts = sorted(tries(client, run_id), key=lambda t: t["try_number"])
    assert [t["try_number"] for t in attempts] == [1, 2]
    assert attempts[-1]["state"] == "success"


@pytest.mark.executor_independent  # the scheduler finds the lost task and the dag-processor alerts, on either executor
def test_a_worker_killed_on_its_last_try_alerts_from_the_dag_processor_and_writes_a_dead_letter(drills):
    """No worker is left to run the failure callback: the scheduler sees the heartbeat stop, the dag-processor runs
    ``TaskFailureAlert`` (Slack, e-mail and the dead-letter queue) with no exception in its context. The run is
    then deleted: its replay is a new run at the same logical date and data interval, not today's. The drill
    fails tries 1-3 transiently and sleeps in the last (retries: 3), so one kill reaches the last try: a worker
    killed on a try with retries left is retried (``test_a_killed_worker_is_detected_and_its_task_retried``)."""
    layout, env, client = drills
    conf = {"mode": "last_try_sleeps", "sleep_seconds": 300}
    run = client.trigger(DRILL, "2024-01-02T00:00:00+00:00", conf=conf)
    run_id = run["dag_run_id"]
    kill_worker(wait_until_running(client, run_id, 4))
    assert client.wait_for_run(DRILL, run_id, timeout=180) == "failed"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        task_alerts = [a for a in alerts_about(layout, run_id)
                       if "failed for good" in a.get("text", "") or "fail_as_asked failed" in a.get("subject", "")]
        letters = [d for d in dead_letter_ops.store(layout).list() if d.run_id == run_id]
        if len(task_alerts) >= 2 and letters:
            break
        time.sleep(1)
    [letter] = letters
    assert (letter.task_id, letter.try_number, letter.model) == ("fail_as_asked", 4, "platform")
    assert letter.conf == conf
    assert "the task process died" in letter.exception_message

    client.request("DELETE", f"/dags/{DRILL}/dagRuns/{run_id}")  # the run is gone (deleted, or cleaned up)
    replayed = subprocess.run([str(REPO_ROOT / ".venv/bin/ml-pipeline"), "dlq", "replay", str(letter.id)], env=env,
                              capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stderr
    assert f"run {run_id} is gone: triggered replay__{run_id} with the same conf and dates" in replayed.stdout
    again = client.run(DRILL, f"replay__{run_id}")
    # marked a success so that it stops (a 500 from a deadlock with the scheduler is asked again by the client)
    client.request("PATCH", f"/dags/{DRILL}/dagRuns/{again['dag_run_id']}", json={"state": "success"})
    assert dt.datetime.fromisoformat(again["logical_date"]) == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert (again["data_interval_start"], again["data_interval_end"], again["conf"]) == (
        run["data_interval_start"], run["data_interval_end"], run["conf"])
    # Airflow sends this attempt's failure callback twice (the heartbeat timeout, then the executor's "failed"):
    # one alert per channel all the same, the second callback finding its dead letter already written
    task_alerts = [a for a in alerts_about(layout, run_id)
                   if "failed for good" in a.get("text", "") or "fail_as_asked failed" in a.get("subject", "")]
    assert sorted(a["channel"] for a in task_alerts) == ["email", "slack"], alerts_about(layout, run_id)
    slack = next(a for a in task_alerts if a["channel"] == "slack")["text"]
    assert "task `fail_as_asked` failed for good (try 4, retries used up)" in slack
    assert "the task process died (killed or out of memory)" in slack


@pytest.mark.executor_independent  # the asset event, the failure callback and the replay are the same on either
def test_a_deleted_asset_triggered_run_is_replayed_with_the_version_its_asset_event_named(drills):
    """A run an asset event started (as a deployment starts on a registered version) fails for good and is deleted.
    Its replay is a manual run, which sees no asset event: the dead letter kept the run's events (the notifier, in
    the real task's failure callback), and the replay passes their version on as the DAG's ``version`` param (the
    REST API's DAG details say the DAG declares one); the fixed task deploys that version, not none."""
    with drill_fix(drills[2]) as fix:
        asset_triggered_run_replayed_with_its_events_version(drills, fix)


def asset_triggered_run_replayed_with_its_events_version(drills, fix: Callable[[], None]) -> None:
    layout, env, client = drills
    run_id, letter = failed_asset_drill(drills)
    [event] = letter.inputs["triggering_asset_events"]
    assert event["uri"] == ASSET_DRILL_URI and event["extra"]["version"] == "12"

    client.request("DELETE", f"/dags/{ASSET_DRILL}/dagRuns/{run_id}")  # the run is gone (deleted, or cleaned up)
    fix()
    replayed = subprocess.run([str(REPO_ROOT / ".venv/bin/ml-pipeline"), "dlq", "replay", str(letter.id)],
                              env=env, capture_output=True, text=True)
    assert replayed.returncode == 0, replayed.stderr
    assert f"run {run_id} is gone: triggered replay__{run_id} with the same conf" in replayed.stdout
    assert "its asset events' version 12 passed on" in replayed.stdout, replayed.stdout
    again = client.run(ASSET_DRILL, f"replay__{run_id}")
    assert (again["run_type"], again["conf"]) == ("manual", {"version": "12"})
    assert client.wait_for_run(ASSET_DRILL, again["dag_run_id"], timeout=180) == "success"
    assert client.xcom(ASSET_DRILL, again["dag_run_id"], "deploy_as_asked") == {"version": "12"}


def failed_asset_drill(drills) -> tuple[str, DeadLetter]:
    """A run of the asset drill that an event (version 12) started and its bug failed; its dead letter."""
    layout, _, client = drills
    client.wait_for_dag(ASSET_DRILL)
    client.unpause(ASSET_DRILL)
    known = {r["dag_run_id"] for r in client.request("GET", f"/dags/{ASSET_DRILL}/dagRuns")["dag_runs"]}
    [asset] = [a for a in client.request("GET", "/assets", params={"uri_pattern": "drill://platform"})["assets"]
               if a["uri"] == ASSET_DRILL_URI]
    client.request("POST", "/assets/events", json={"asset_id": asset["id"], "extra": {"version": "12"}})
    run_id = client.wait_for_new_run(ASSET_DRILL, known, "asset_triggered", timeout=120)["dag_run_id"]
    assert client.wait_for_run(ASSET_DRILL, run_id, timeout=180) == "failed"
    deadline, letters = time.monotonic() + 60, []
    while not letters and time.monotonic() < deadline:
        letters = [d for d in dead_letter_ops.store(layout).list() if d.run_id == run_id]
        time.sleep(0.5)
    [letter] = letters
    assert (letter.task_id, letter.try_number, letter.exception_type) == ("deploy_as_asked", 1, "KeyError")
    assert "drill: version 12 has no signature" in letter.exception_message  # the event's version, as it ran
    return run_id, letter


@pytest.mark.executor_independent  # the REST API's clear and the CLI: the executor changes neither
def test_a_replay_reruns_the_tasks_after_the_failed_one_and_refuses_a_paused_dag(drills):
    """The task after the failed one skipped because of it (as the deployment's rollback skips when the canary
    failed): the replay runs it again, or a rerun that deploys would have no rollback behind it. A paused DAG would
    hold the rerun unseen: refused, the letter left pending."""
    with drill_fix(drills[2]) as fix:
        layout, env, client = drills
        run_id, letter = failed_asset_drill(drills)
        tasks = ("deploy_as_asked", "confirm_as_asked", "fail_when_one_failed")
        states = {ti["task_id"]: ti["state"] for ti in client.task_instances(ASSET_DRILL, run_id)}
        assert states == dict(zip(tasks, ("failed", "skipped", "failed"), strict=True))
        fix()
        cli = [str(REPO_ROOT / ".venv/bin/ml-pipeline"), "dlq", "replay", str(letter.id)]
        client.request("PATCH", f"/dags/{ASSET_DRILL}", json={"is_paused": True})
        refused = subprocess.run(cli, env=env, capture_output=True, text=True)
        assert refused.returncode == 1
        assert f"DAG {ASSET_DRILL} is paused, so a rerun would not start: unpause it" in refused.stderr
        assert dead_letter_ops.store(layout).get(letter.id).status == "pending"
        client.unpause(ASSET_DRILL)
        replayed = subprocess.run(cli, env=env, capture_output=True, text=True)
        assert replayed.returncode == 0, replayed.stderr
        assert f"cleared deploy_as_asked in run {run_id} with every task after it" in replayed.stdout
        assert client.wait_for_run(ASSET_DRILL, run_id, timeout=180) == "success"
        assert client.xcom(ASSET_DRILL, run_id, "confirm_as_asked") == "confirmed"
        states = {ti["task_id"]: ti["state"] for ti in client.task_instances(ASSET_DRILL, run_id)}
        assert states == dict(zip(tasks, ("success", "success", "skipped"), strict=True))
        again = subprocess.run(cli, env=env, capture_output=True, text=True)  # a second replay changes nothing
        assert again.returncode == 1 and f"dead letter {letter.id} is already replayed" in again.stderr


def wait_until_running(client: AirflowClient, run_id: str, try_number: int, timeout: float = 120) -> int:
    """The pid of the task process once try ``try_number`` runs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        [ti] = client.task_instances(DRILL, run_id)
        if ti["state"] == "running" and ti["try_number"] == try_number and ti.get("pid"):
            return ti["pid"]
        time.sleep(0.5)
    raise AssertionError(f"try {try_number} of {run_id} never ran: {ti}")


def kill_worker(pid: int) -> None:
    """SIGKILL the task supervisor and the task process: the whole worker, as an OOM kill or a lost node."""
    task_process = psutil.Process(pid)
    for proc in (task_process.parent(), task_process):
        os.kill(proc.pid, signal.SIGKILL)
