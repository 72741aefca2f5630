"""Operate the dead-letter queue and the alert sinks of a running platform (``ml-pipeline dlq`` and ``alerts``)."""

from __future__ import annotations

import getpass
import json

from ml_pipeline.failures.dead_letters import DISCARDED, REPLAYED, DeadLetter, DeadLetterStore, drain_spool
from ml_platform import database
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.alert_sinks import read_alerts
from ml_platform.clients import airflow_client
from ml_platform.layout import Layout


def store(layout: Layout) -> DeadLetterStore:
    """The platform's dead-letter queue (database ``ml_platform`` of its PostgreSQL), spooled entries moved in."""
    dead_letters = DeadLetterStore(database.database_url(layout, "ml_platform"))
    drain_spool(dead_letters, layout.dlq_spool)
    return dead_letters


def replay(layout: Layout, letter_id: int) -> DeadLetter:
    """Re-run a dead letter through Airflow's REST API, then mark it ``replayed``.

    The failed task instance is cleared (with what runs after it) in its own DAG run, so it reruns with the
    same inputs; if that run no longer exists, a new run is triggered with the same conf.
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
    """Clear the failed task in its run (or trigger a new run with the same conf when that run is gone); say which."""
    try:
        cleared = client.clear_task(letter.dag_id, letter.run_id, letter.task_id, letter.map_index)
    except AirflowApiError as exc:
        if exc.status != 404:
            raise
        run = client.trigger(letter.dag_id, None, conf=letter.conf or {})
        return f"run {letter.run_id} is gone: triggered {run['dag_run_id']} with the same conf"
    if not cleared.get("task_instances"):
        raise ValueError(f"nothing to replay: {letter.dag_id}.{letter.task_id} in run {letter.run_id} is no "
                         "longer failed (rerun or cleared since); discard the entry if that was the fix")
    return f"cleared {letter.task_id} in run {letter.run_id}"


def discard(layout: Layout, letter_id: int, reason: str) -> DeadLetter:
    """Mark a dead letter ``discarded`` (kept, never deleted), with the reason."""
    return store(layout).mark(letter_id, DISCARDED, f"discarded by {getpass.getuser()}: {reason}")


def alerts(layout: Layout) -> list[dict]:
    """What the local Slack and SMTP sinks received."""
    return read_alerts(layout.alerts_file)


def describe(letter: DeadLetter) -> str:
    """Several lines for ``dlq show``."""
    data = letter.to_dict()
    head = [f"{k:<18} {data[k]}" for k in ("id", "status", "created_at", "model", "dag_id", "run_id", "task_id",
                                            "map_index", "try_number", "exception_type", "log_url", "note")]
    return "\n".join([*head, "conf", json.dumps(data["conf"], indent=2), "inputs",
                      json.dumps(data["inputs"], indent=2, default=str), "exception", data["exception_message"]])

