"""The Celery configuration of the platform's workers (``[celery] celery_config_options`` points here).

Airflow's defaults, plus one change by design: a worker imports the task stack once, at start, before it forks its
pool (``executors/preload.py``; ``ML_PLATFORM_PRELOAD=0`` turns it off), as the embedded default's LocalExecutor
does before it forks its workers (``executors/local_executor.py``); each pool process lowers its CPU priority below
the platform's own processes' as it starts (``executors/priority.py``), and opens the result backend and builds one
Task SDK request then rather than in its first task (``warm_pool_process``).
"""

from __future__ import annotations

import gc
import logging
import socket

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init, worker_process_init

from ml_pipeline_airflow.executors.preload import enabled, preload_task_stack
from ml_pipeline_airflow.executors.priority import lower_task_priority

log = logging.getLogger(__name__)

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)

# billiard replaces a pool process whose ``worker_process_init`` outlasts ``worker_proc_alive_timeout`` (4 s): the
# warm-up asks the result backend's host for a connection for at most this long before it connects through the driver.
RESULT_BACKEND_REACH_S = 1.0


@worker_init.connect
def _preload_task_stack(**_: object) -> None:
    """Preload, then freeze the collector's view of it before the pool forks.

    Airflow's Celery app freezes the garbage collector when its modules are imported, which is before this signal:
    left unfrozen, the ~500,000 preloaded objects would be traversed by every full collection in every pool process
    and task process (0.3 s of CPU each) and their pages copied on write. The LocalExecutor freezes after our preload
    (its workers are forked from the scheduler by Airflow's own ``_spawn_workers_with_gc_freeze``). Airflow unfreezes
    the master when the worker is ready; the pool has forked by then.
    """
    preload_task_stack()
    gc.freeze()


@worker_process_init.connect
def _set_up_pool_process(**_: object) -> None:
    lower_task_priority()
    if enabled():  # with the rest of the preload (ML_PLATFORM_PRELOAD=0 turns it off)
        warm_pool_process()


def warm_pool_process() -> None:
    """Open the result backend and build one Task SDK request in a pool process as it starts, not in its first task.

    A pool process's first task cost 0.17 CPU-s against 0.07 for its second (cProfile of each pool process's first
    two tasks): its first result-backend writes opened the database and compiled their statements on the process's
    own engine, and its supervisor's first requests to the Task Execution API answered type checks no earlier
    request had (httpx's headers). With 32 pool processes that was all in a platform's first burst, before each
    process's first task ran. A failure is logged: the first task then does it, as before. A host that does not
    answer within ``RESULT_BACKEND_REACH_S`` is left alone (a database driver would wait minutes for it, and billiard
    would replace the process again and again).
    """
    try:
        from airflow.providers.celery.executors.celery_executor_utils import app
        from airflow.sdk.api.client import Client

        backend = app.backend
        if hasattr(backend, "ResultSession") and _answers(backend.url):  # the database result backend (the platform's)
            session = backend.ResultSession()
            try:
                list(session.query(backend.task_cls).filter(backend.task_cls.task_id == "ml-platform-warm-up"))
            finally:
                session.close()
        Client(base_url="http://127.0.0.1/execution/", token="warm-up").build_request(
            "PATCH", "task-instances/warm-up/run", json={"state": "running"})
    except Exception as exc:  # noqa: BLE001 - the first task opens and builds them itself
        log.warning("warming the pool process failed: %s", exc)


def _answers(url: str) -> bool:
    """Whether the database at ``url`` takes a TCP connection within ``RESULT_BACKEND_REACH_S``.

    A file or a local socket always does; a host and port that did not are logged.
    """
    from sqlalchemy.engine import make_url

    parsed = make_url(url.removeprefix("db+"))
    port = parsed.port or {"postgresql": 5432, "mysql": 3306, "mssql": 1433}.get(parsed.get_backend_name())
    if not parsed.host or port is None:
        return True
    try:
        socket.create_connection((parsed.host, port), timeout=RESULT_BACKEND_REACH_S).close()
        return True
    except OSError as exc:
        log.warning("the result backend at %s:%s did not answer within %.0f s (%s); this pool process opens it in its "
                    "first task instead", parsed.host, port, RESULT_BACKEND_REACH_S, exc)
        return False
