"""Airflow's LocalExecutor, with the task stack preloaded in the scheduler before it forks its workers.

The platform's embedded default names it in ``[core] executor``. Each worker, and each task process forked from a
worker, inherits the imports (``preload.py``): a training task no longer spends seconds importing MLflow, its
model's library and polars. Nothing else changes.
"""

from __future__ import annotations

from airflow.executors.local_executor import LocalExecutor

from ml_pipeline_airflow.executors.preload import preload_task_stack


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose forked workers start with the task stack imported."""

    def start(self) -> None:
        if self.is_mp_using_fork:  # spawned workers would import everything again: nothing to share
            preload_task_stack()
        super().start()
