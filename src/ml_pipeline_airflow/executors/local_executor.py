"""Airflow's LocalExecutor, with the task stack preloaded in the scheduler before it forks its workers.

The platform's embedded default names it in ``[core] executor``. Each worker, and each task process forked from a
worker, inherits the imports (``preload.py``): a training task no longer spends seconds importing MLflow, its
model's library and polars. Each worker also lowers its CPU priority below the scheduler's as it starts
(``priority.py``). The scheduler then keeps what it preloaded out of its own garbage collections (below). Nothing
else changes.
"""

from __future__ import annotations

import functools
import gc
from typing import Any

from airflow.executors import local_executor as airflow_local
from airflow.executors.local_executor import LocalExecutor

from ml_pipeline_airflow.executors.preload import preload_task_stack
from ml_pipeline_airflow.executors.priority import lower_task_priority


def run_worker_at_task_priority(run_worker: Any, *args: Any, **kwargs: Any) -> None:
    """A LocalExecutor worker's loop (Airflow's ``_run_worker``), at the task processes' priority."""
    lower_task_priority()
    run_worker(*args, **kwargs)


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose forked workers start with the task stack imported, at a lower CPU priority."""

    def start(self) -> None:
        # spawned workers would import everything again: nothing to share
        preloaded = self.is_mp_using_fork and preload_task_stack()
        # Airflow's _spawn_worker starts each worker (now and whenever one died) with the module's _run_worker
        if not isinstance(airflow_local._run_worker, functools.partial):
            airflow_local._run_worker = functools.partial(run_worker_at_task_priority, airflow_local._run_worker)
        super().start()
        if preloaded:
            # Airflow froze the collector to fork the workers and unfroze it after; the preloaded stack then made
            # each full collection in the scheduler traverse ~600,000 objects (0.35 s, one every ~15 s in a burst,
            # one of 1.3 s as the first runs started). Frozen again, they skip what lives as long as the scheduler.
            # A worker respawned later unfreezes it (Airflow's freeze, fork, unfreeze): as before this.
            gc.freeze()
