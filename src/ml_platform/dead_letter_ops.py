"""Operate the dead-letter queue and the alert sinks of a running platform (``ml-pipeline dlq`` and ``alerts``)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import logging
import os
import re

from ml_pipeline.failures.dead_letters import ASSET_EVENTS, DISCARDED, REPLAYED, DeadLetter, DeadLetterStore
from ml_pipeline.failures.spool import SPOOL_ENV, drain_spool, spool_folder
from ml_pipeline.registry import VERSION_PATTERN
from ml_platform import database
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.alert_sinks import read_alerts
from ml_platform.clients import airflow_client
from ml_platform.layout import Layout

log = logging.getLogger(__name__)
VERSION = re.compile(VERSION_PATTERN)  # ASCII digits: "²" is a digit to str.isdigit


RERUNNING = {None, "scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule", "restarting"}


def store(layout: Layout) -> DeadLetterStore:
    """The platform's dead-letter queue (database ``ml_platform`` of its PostgreSQL), spooled entries moved in.

    From the platform's spool (where the embedded platform's tasks write), and from ``ML_PLATFORM_DLQ_SPOOL`` when
    it is set elsewhere (compose and Helm set it for every process, not ``ML_PLATFORM_HOME``).
    """
    dead_letters = DeadLetterStore(database.database_url(layout, "ml_platform"))
    folders = [layout.dlq_spool]
    if os.environ.get(SPOOL_ENV) and spool_folder() != layout.dlq_spool:
        folders.append(spool_folder())
    for folder in folders:
        try:
            drained = drain_spool(dead_letters, folder)
        except PermissionError as exc:  # a spool this user may not drain: the queue itself still answers
            log.warning("%s", exc)
        else:
            for name, reason in drained.rejected.items():
                log.warning("spooled dead letter %s set aside in %s/rejected: %s", name, folder, reason)
    return dead_letters


def replay(layout: Layout, letter_id: int) -> DeadLetter:
    """Re-run a dead letter through Airflow's REST API, then mark it ``replayed``.

    The failed task instance is cleared with every task after it that did not succeed, in its own DAG run, so it
    reruns with the same inputs; if that run no longer exists, a new run ``replay__<run id>`` is triggered with the
    same conf, logical date and data interval (a scheduled run's partition, not today's). A task already running
    again (cleared by hand, or a replay whose answer was lost) is marked replayed, not cleared twice. A DAG that is
    gone or paused is refused, with what to do.
    """
    dlq = store(layout)
    letter = dlq.get(letter_id)
    if letter.status != "pending":
        raise ValueError(f"dead letter {letter_id} is already {letter.status} ({letter.note})")
    client = airflow_client(layout)
    try:
        note = _rerun(client, letter)
    finally:
        client.close()
    return dlq.mark(letter_id, REPLAYED, f"{note} by {getpass.getuser()}")


def _rerun(client: AirflowClient, letter: DeadLetter) -> str:
    """Rerun the letter's task in its run, or in a new run with the same conf when that run is gone; say what."""
    _check_runnable(client, letter)
    try:
        client.run(letter.dag_id, letter.run_id)
    except AirflowApiError as exc:
        if exc.status != 404:
            raise
        run, passed_on = _trigger_again(client, letter)
        dates = (" and dates" if letter.logical_date else "" if run.get("logical_date")
                 else " (no logical date recorded: the new run has none)")
        return f"run {letter.run_id} is gone: triggered {run['dag_run_id']} with the same conf{dates}{passed_on}"
    return _rerun_in(client, letter, letter.run_id)


def _rerun_in(client: AirflowClient, letter: DeadLetter, run_id: str, replay_run: bool = False) -> str:
    """Clear the letter's task in ``run_id`` when it failed there (in a finished replay run: or never ran); say what.

    Running again already (cleared by hand, or a replay whose answer was lost): nothing is cleared twice. Succeeded in
    a replay run: done. Anything else is refused, with what to do.
    """
    where = f"{letter.dag_id}.{letter.task_id} in run {run_id}"
    try:
        ti = client.task_instance(letter.dag_id, run_id, letter.task_id, letter.map_index)
    except AirflowApiError as exc:
        if exc.status != 404:
            raise
        raise ValueError(f"nothing to replay: {where} does not exist (the DAG changed since: a task renamed or "
                         f"removed, a mapped task's index); discard the entry: `ml-pipeline dlq discard {letter.id} "
                         "--reason …`") from None
    state = ti.get("state")
    if state in RERUNNING:
        return f"{where} is running again already ({state or 'cleared'}, try {ti.get('try_number')}): nothing cleared"
    if state == "failed" or (replay_run and state == "upstream_failed"):
        client.clear_task(letter.dag_id, run_id, letter.task_id, letter.map_index, _note(letter))
        return f"cleared {letter.task_id} in run {run_id} with every task after it that did not succeed"
    if replay_run and state == "success":
        return f"{where} ran again already (success): nothing cleared"
    if state == "upstream_failed":
        raise ValueError(f"nothing to replay here: {where} is upstream_failed now (a task before it failed since): "
                         "replay that task's dead letter (`ml-pipeline dlq list`), which reruns this one too")
    raise ValueError(f"nothing to replay: {where} is {state} now (rerun or changed since); discard the entry "
                     f"if that was the fix: `ml-pipeline dlq discard {letter.id} --reason …`")


def _check_runnable(client: AirflowClient, letter: DeadLetter) -> None:
    """Refuse a DAG that is gone (nothing to rerun it in) or paused (a rerun would wait, unseen, until unpaused)."""
    try:
        dag = client.request("GET", f"/dags/{letter.dag_id}")
    except AirflowApiError as exc:
        if exc.status != 404:
            raise
        dag = {"is_stale": True}
    if dag.get("is_stale"):
        raise ValueError(f"dead letter {letter.id}: DAG {letter.dag_id} is gone (its file or model config removed or "
                         f"renamed): nothing to rerun it in; discard the entry: `ml-pipeline dlq discard {letter.id} "
                         "--reason …`")
    if dag.get("is_paused"):
        raise ValueError(f"dead letter {letter.id}: DAG {letter.dag_id} is paused, so a rerun would not start: "
                         f"unpause it (the UI's toggle, or `airflow dags unpause {letter.dag_id}`), then replay again")


def _note(letter: DeadLetter) -> str:
    return f"replay of dead letter {letter.id} by {getpass.getuser()}"


def _trigger_again(client: AirflowClient, letter: DeadLetter) -> tuple[dict, str]:
    """A new run of the letter's DAG for the gone run's logical date and data interval, with its conf.

    A run its asset events started is a manual one now, which sees no event: what they said is passed on (the
    version to deploy as the DAG's ``version`` param, the newest day of features as the logical date). Returns
    the run and what was passed on, said for the note.
    """
    conf, logical_date, passed_on = _from_asset_events(client, letter)
    body = {"dag_run_id": f"replay__{letter.run_id}"[:250], "conf": conf,
            "logical_date": _iso(logical_date), "note": f"replay of {letter.run_id} (dead letter {letter.id})"}
    if letter.data_interval_start and letter.data_interval_end:
        body |= {"data_interval_start": _iso(letter.data_interval_start),
                 "data_interval_end": _iso(letter.data_interval_end)}
    try:
        return client.request("POST", f"/dags/{letter.dag_id}/dagRuns", json=body), passed_on
    except AirflowApiError as exc:
        if exc.status != 409:
            raise
        try:  # replayed before (another task of the same run): that run reruns every task of the DAG
            run = client.run(letter.dag_id, body["dag_run_id"])
        except AirflowApiError:
            raise exc from None  # another run holds the logical date: Airflow's answer says which
    if run.get("state") in ("queued", "running"):
        return run, f"{passed_on}; it was triggered before and runs this task"
    # it has finished: this task failed there, or never ran (the run failed before it), or succeeded
    return run, f"{passed_on}; {_rerun_in(client, letter, run['dag_run_id'], replay_run=True)}"


def _from_asset_events(client: AirflowClient, letter: DeadLetter) -> tuple[dict, dt.datetime | None, str]:
    """The conf and logical date of the replay run, with what the gone run's asset events said added; and a note."""
    if not isinstance(letter.conf or {}, dict):
        raise ValueError(f"dead letter {letter.id}: its conf is no JSON object ({str(letter.conf)[:80]}): trigger "
                         f"{letter.dag_id} with the conf you mean, then `ml-pipeline dlq discard {letter.id} "
                         "--reason …`")
    conf, logical_date, said = dict(letter.conf or {}), letter.logical_date, []
    inputs = letter.inputs if isinstance(letter.inputs, dict) else {}
    events = inputs.get(ASSET_EVENTS) if isinstance(inputs.get(ASSET_EVENTS), list) else []
    # as the notifier stores them; an entry of another shape (a hand-edited letter) says nothing
    extras = [event["extra"] for event in events if isinstance(event, dict) and isinstance(event.get("extra"), dict)]
    versions = [str(extra["version"]) for extra in extras if VERSION.fullmatch(str(extra.get("version", "")))]
    bad = [extra["version"] for extra in extras if extra.get("version") is not None and
           not VERSION.fullmatch(str(extra["version"]))]
    if (versions or bad) and "version" not in conf and "version" in client.dag_params(letter.dag_id):
        if bad:  # the run failed on it (asset_events): replayed without it, it would deploy the challenger alias
            raise ValueError(f"dead letter {letter.id}: its asset events name version {repr(bad[0])[:40]}, which is "
                             f"no version (1, 2, …): trigger {letter.dag_id} with the version you mean, then "
                             f"`ml-pipeline dlq discard {letter.id} --reason …`")
        conf["version"] = max(versions, key=int)  # as the DAG picks among its events (tasks/deployment.py)
        said.append(f"version {conf['version']}")
    days = sorted(day for extra in extras if isinstance(extra.get("days"), list)
                  for day in extra["days"] if isinstance(day, str))
    if logical_date is None and days:
        try:  # a microsecond per letter: Airflow keeps one run per logical date, and two letters may name one day
            logical_date = (dt.datetime.combine(dt.date.fromisoformat(days[-1]), dt.time(), dt.UTC)
                            + dt.timedelta(microseconds=letter.id or 0))
            said.append(f"logical date {days[-1]}")
        except ValueError:
            pass
    return conf, logical_date, (f"; its asset events' {' and '.join(said)} passed on" if said else "")


def _iso(moment: dt.datetime | None) -> str | None:
    """An API date-time (naive ones are UTC, as the database returns them from SQLite)."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).isoformat()


def discard(layout: Layout, letter_id: int, reason: str) -> DeadLetter:
    """Mark a dead letter ``discarded`` (kept, never deleted), with the reason."""
    return store(layout).mark(letter_id, DISCARDED, f"discarded by {getpass.getuser()}: {reason}")


def alerts(layout: Layout) -> list[dict]:
    """What the local Slack and SMTP sinks received."""
    return read_alerts(layout.alerts_file)


def describe(letter: DeadLetter) -> str:
    """Several lines for ``dlq show``."""
    data = letter.to_dict()
    shown = ("id", "status", "created_at", "model", "dag_id", "run_id", "logical_date", "data_interval_start",
             "data_interval_end", "task_id", "map_index", "try_number", "exception_type", "log_url", "note")
    head = [f"{k:<19} {data[k]}" for k in shown]
    return "\n".join([*head, "conf", json.dumps(data["conf"], indent=2), "inputs",
                      json.dumps(data["inputs"], indent=2, default=str), "exception", data["exception_message"]])

