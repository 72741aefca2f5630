"""The Celery configuration of the platform's workers (``[celery] celery_config_options`` points here).

Airflow's defaults, plus one change by design: a worker imports the task stack once, at start, before it forks its
pool. Every task runs in a process forked from a pool process, so each task then finds Airflow's task runner, our
DAG factory and the ML libraries (MLflow, scikit-learn, XGBoost, polars, pandera) already imported instead of
spending seconds of CPU importing them again — on a busy machine the largest part of a short task's wall time
(docs/DESIGN.md, "Scheduling at scale"). ``ML_PLATFORM_PRELOAD=0`` turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import time

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG
from celery.signals import worker_init

log = logging.getLogger(__name__)

# In import order: Airflow's task runner first (every task), then what the DAG files and the ML tasks import.
PRELOADED_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.execution_time.supervisor",
    "ml_pipeline_airflow.dag_factory",
    "ml_pipeline_airflow.drills",
    # what building the DAGs imports lazily: every task parses its DAG file
    "airflow.providers.slack.notifications.slack_webhook",
    "airflow.providers.smtp.notifications.smtp",
    "ml_pipeline.features.registry",
    "polars",
    "pyarrow.parquet",
    "pandas",
    "sklearn.pipeline",
    "xgboost",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.pyfunc",
    "ml_pipeline.registry.mlflow_registry",  # loads MLflow's request-header plugins, without Feast's
    "feast",  # the feature steps use it: seconds of CPU to import
    "skops.io",  # its import scans every loaded module for scipy ufuncs: seconds, once per worker, not per training
    "pandera.polars",
    "ml_pipeline.pipelines.training",
    "ml_pipeline.pipelines.deployment",
)

CELERY_CONFIG = dict(DEFAULT_CELERY_CONFIG)


def preload(modules: tuple[str, ...] = PRELOADED_MODULES) -> list[str]:
    """Import ``modules``; return those that failed (a missing optional library must not stop a worker)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported, and the task imports it again (and fails there)
            log.warning("preloading %s failed: %s", name, exc)
            failed.append(name)
    if "mlflow" not in failed:
        _warm_mlflow_requirement_checks()
    return failed


def _warm_mlflow_requirement_checks() -> None:
    """MLflow checks a logged model's pip requirements against the installed distributions, reading the metadata
    of every one of them (~300 here) the first time in each process: seconds of CPU in every training task. Done
    once here, the forked tasks inherit the map."""
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception as exc:  # noqa: BLE001 - an MLflow release without this helper: the tasks do it themselves
        log.warning("could not prepare MLflow's requirement checks: %s", exc)


@worker_init.connect
def _preload_task_stack(**_: object) -> None:
    if os.environ.get("ML_PLATFORM_PRELOAD", "1") == "0":
        return
    started = time.monotonic()
    failed = preload()
    log.info("preloaded the task stack in %.1fs (%d modules, %d failed)", time.monotonic() - started,
             len(PRELOADED_MODULES), len(failed))
