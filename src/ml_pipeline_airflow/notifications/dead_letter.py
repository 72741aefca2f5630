"""``DeadLetterNotifier``: record a task that failed for good in the dead-letter queue."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict
from typing import Any

from airflow.sdk import BaseNotifier

from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook


class DeadLetterNotifier(BaseNotifier):
    """Write the failed attempt — task, try, error, the run's conf, the task's inputs — to the DLQ.

    It leaves ``context["dead_letter"]``: ``{"id", "new"}``, ``new`` False when the attempt was recorded already
    (Airflow delivers the failure callback twice for a task lost on its last try: alert once), True when this call
    recorded it or spooled it. A pending letter of an earlier try of the same task instance is superseded by the
    new one (``DeadLetterStore.supersede_older_tries``), here or when the spool is drained.

    Args:
        model: The model the DAG belongs to.
        dead_letter_conn_id: Connection of the DLQ's database.
    """

    template_fields = ("model",)

    def __init__(self, *, model: str | None = None, dead_letter_conn_id: str = PlatformDatabaseHook.default_conn_name):
        super().__init__()
        self.model = model
        self.dead_letter_conn_id = dead_letter_conn_id

    def notify(self, context: Any) -> None:
        from ml_pipeline.failures.spool import drain_spool, spool, spool_folder

        ti = context["ti"]
        letter = dead_letter(self.model, context)
        try:
            store = PlatformDatabaseHook(self.dead_letter_conn_id).dead_letters
            letter_id, new = store.record(letter)
        except Exception:  # the database is down: keep the entry on disk; monitoring_ml_pipelines moves it in
            context["dead_letter"] = {"id": None, "new": True}
            self.log.exception("dead-letter database unreachable")
            try:
                self.log.warning("dead letter kept in %s until the database answers", spool(letter, spool_folder()))
            except Exception:  # no spool either (a volume not this user's, a full disk): the log is the last copy
                self.log.exception("DEAD LETTER NOT STORED (no database, no spool at %s); its fields: %s",
                                   spool_folder(), json.dumps(asdict(letter), default=str))
            return
        context["dead_letter"] = {"id": letter_id, "new": new, "repeat": not new and _recent(store, letter_id)}
        if not new:
            self.log.info("dead letter %s already records this attempt (a second failure callback)", letter_id)
            return
        self.log.info("recorded dead letter %s for %s.%s (%s: %s)", letter_id, ti.dag_id, ti.task_id,
                      letter.exception_type, letter.exception_message[:200])
        try:
            superseded = store.supersede_older_tries(letter_id)
            if superseded:  # the task ran again after an earlier failure recorded here: one letter stays pending
                self.log.info("dead letter(s) %s of earlier tries superseded by %s", superseded, letter_id)
        except Exception:
            self.log.exception("letters of earlier tries of this task stay pending for now")
        try:
            drain_spool(store, spool_folder())
        except Exception:
            self.log.exception("spooled dead letters stay in %s for now", spool_folder())


def dead_letter(model: str | None, context: Any) -> Any:
    """The ``DeadLetter`` of the failed attempt in ``context``, with its run's conf, logical date and data interval.

    A task whose worker died has no exception: the scheduler found it without a heartbeat and the dag-processor
    runs this callback, so the letter says so.
    """
    from ml_pipeline.failures.dead_letters import ASSET_EVENTS, DeadLetter

    ti, exception, dag_run = context["ti"], context.get("exception"), context.get("dag_run")
    message = str(exception or "the task process died (killed or out of memory): no heartbeat, no exception")
    inputs = task_inputs(context.get("task"))
    if events := asset_events(dag_run):
        inputs[ASSET_EVENTS] = events
    return DeadLetter(
        dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index, try_number=ti.try_number,
        exception_type=type(exception).__name__ if exception else "unknown", exception_message=message[:20_000],
        model=model, conf=dict(getattr(dag_run, "conf", None) or {}), inputs=inputs,
        log_url=getattr(ti, "log_url", None), logical_date=getattr(dag_run, "logical_date", None),
        data_interval_start=getattr(dag_run, "data_interval_start", None),
        data_interval_end=getattr(dag_run, "data_interval_end", None))


def task_inputs(task: Any) -> dict[str, Any]:
    """The references a task was called with (TaskFlow arguments, an operator's templated fields), JSON-able."""
    if task is None:
        return {}
    inputs: dict[str, Any] = {}
    if getattr(task, "op_args", None):
        inputs["args"] = list(task.op_args)
    if getattr(task, "op_kwargs", None):
        inputs["kwargs"] = dict(task.op_kwargs)
    for name in getattr(task, "template_fields", ()):
        if name not in {"op_args", "op_kwargs", "templates_dict"} and getattr(task, name, None) is not None:
            inputs[name] = getattr(task, name)
    return inputs


def asset_events(dag_run: Any) -> list[dict[str, Any]]:
    """The asset events that started ``dag_run`` (each one's asset URI and extra), JSON-able; none for other runs.

    The task's run (Task SDK) and the dag-processor's (ORM, for a task found without a heartbeat) both name them
    ``consumed_asset_events``; one that cannot be read leaves them out rather than losing the letter.
    """
    try:
        events = list(getattr(dag_run, "consumed_asset_events", None) or [])
        return [{"uri": getattr(getattr(event, "asset", None), "uri", None),
                 "extra": json.loads(json.dumps(dict(getattr(event, "extra", None) or {}), default=str))}
                for event in events]
    except Exception:  # noqa: BLE001 - a detached ORM relation, say: the letter matters more
        return []


REPEAT_WINDOW = dt.timedelta(minutes=15)


def _recent(store: Any, letter_id: int) -> bool:
    """Whether the letter already recording this attempt was written minutes ago: Airflow's second callback for it.

    An older one is another run that reused the run id (a backfill of the same date, a run deleted and triggered
    again): its failure is alerted even though the queue keeps the first letter of that attempt.
    """
    created = store.get(letter_id).created_at
    if created is None:
        return False
    created = created if created.tzinfo else created.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) - created < REPEAT_WINDOW
