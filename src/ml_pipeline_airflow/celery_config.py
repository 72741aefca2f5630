"""The Celery configuration of the platform's workers (``[celery] celery_config_options`` points here).

Airflow's defaults, plus one change by design: a worker imports the task stack once, at start, before it forks its
pool (``executors/preload.py``; ``ML_PLATFORM_PRELOAD=0`` turns it off), as the embedded default's LocalExecutor
does before it forks its workers (``executors/local_executor.py``); each pool process lowers its CPU priority below
the platform's own processes' as it starts (``executors/priority.py``).
"""

from __future__ import annotations

import gc

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init, worker_process_init

from ml_pipeline_airflow.executors.preload import preload_task_stack
from ml_pipeline_airflow.executors.priority import lower_task_priority

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)


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
def _lower_task_priority(**_: object) -> None:
    lower_task_priority()
