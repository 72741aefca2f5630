"""The workers' Celery settings: Airflow's defaults, and the task stack preloaded before the pool forks."""

import subprocess
import sys

from ml_pipeline_airflow.celery_config import CELERY_CONFIG, PRELOADED_MODULES, preload


def test_airflow_defaults_are_kept():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    assert CELERY_CONFIG["task_acks_late"] is True and CELERY_CONFIG["worker_prefetch_multiplier"] == 1


def test_every_preloaded_module_imports_and_a_missing_one_is_reported_not_raised():
    code = ("import sys; from ml_pipeline_airflow.celery_config import preload; "
            "failed = preload(); print(failed, 'mlflow' in sys.modules, 'skops.io' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[] True True", out.stdout + out.stderr[-2000:]
    assert preload(("no_such_module_for_the_test",)) == ["no_such_module_for_the_test"]
    assert PRELOADED_MODULES[0] == "airflow.sdk.execution_time.task_runner"

