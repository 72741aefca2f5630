"""``DeadLetterNotifier``: record a task that failed for good in the dead-letter queue."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from airflow.sdk import BaseNotifier

from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook


class DeadLetterNotifier(BaseNotifier):
    """Write the failed attempt — task, try, error, the run's conf, the task's inputs — to the DLQ.

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
        from ml_pipeline.failures.classification import one_line
        from ml_pipeline.failures.dead_letters import DeadLetter, drain_spool, spool

        ti, exception = context["ti"], context.get("exception")
        summary = one_line(exception) if isinstance(exception, BaseException) else str(exception or "unknown error")
        dag_run = context.get("dag_run")
        letter = DeadLetter(
            dag_id=ti.dag_id, run_id=ti.run_id, task_id=ti.task_id, map_index=ti.map_index,
            try_number=ti.try_number, exception_type=type(exception).__name__ if exception else "unknown",
            exception_message=str(exception or summary)[:20_000], model=self.model,
            conf=dict(getattr(dag_run, "conf", None) or {}), inputs=task_inputs(context.get("task")),
            log_url=getattr(ti, "log_url", None))
        try:
            store = PlatformDatabaseHook(self.dead_letter_conn_id).dead_letters
            letter_id = store.add(letter)
        except Exception:  # the database is down: keep the entry on disk, the next failure or `dlq list` moves it
            path = spool(letter, spool_dir())
            self.log.exception("dead-letter database unreachable: entry kept in %s", path)
            return
        self.log.info("recorded dead letter %s for %s.%s (%s)", letter_id, ti.dag_id, ti.task_id, summary)
        try:
            drain_spool(store, spool_dir())
        except Exception:
            self.log.exception("spooled dead letters stay in %s for now", spool_dir())


def spool_dir() -> Path:
    """Where dead letters wait when the database is unreachable: ``ML_PLATFORM_DLQ_SPOOL``."""
    return Path(os.environ.get("ML_PLATFORM_DLQ_SPOOL", Path(tempfile.gettempdir()) / "ml-platform-dlq-spool"))


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
