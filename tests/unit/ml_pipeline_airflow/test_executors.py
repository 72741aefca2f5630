"""Both executors import the task stack once before forking: the LocalExecutor in the scheduler before its workers,
Celery in the worker master before its pool. Otherwise Airflow's executors, unchanged."""

import subprocess
import sys

from ml_pipeline_airflow.celery_config import CELERY_CONFIG
from ml_pipeline_airflow.executors.preload import PRELOADED_MODULES, preload


def test_celery_keeps_airflows_defaults():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    assert CELERY_CONFIG["task_acks_late"] is True and CELERY_CONFIG["worker_prefetch_multiplier"] == 1


def test_every_preloaded_module_imports_and_a_missing_one_is_reported_not_raised():
    code = ("import sys; from ml_pipeline_airflow.executors.preload import preload; "
            "failed = preload(); from mlflow.utils import requirements_utils as r; "
            "print(failed, 'skops.io' in sys.modules, bool(r._MODULES_TO_PACKAGES))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "[] True True", out.stdout + out.stderr[-2000:]
    assert preload(("no_such_module_for_the_test",)) == ["no_such_module_for_the_test"]
    assert PRELOADED_MODULES[0] == "airflow.sdk.execution_time.task_runner"


def test_the_local_executor_preloads_before_its_workers_fork():
    """A real PreloadingLocalExecutor started in a fresh interpreter: the stack is imported, Airflow's plugins with
    their task listeners loaded, the OpenLineage client built and the providers' asset URI handlers found by the time
    its worker processes exist, and turned off by ML_PLATFORM_PRELOAD=0."""
    code = """
import os, sys, multiprocessing as mp
mp.set_start_method("fork")
from ml_pipeline_airflow.executors.local_executor import PreloadingLocalExecutor
ex = PreloadingLocalExecutor(parallelism=1); ex.start()
from airflow.sdk.api.client import Client
tls = Client._get_ssl_context_cached.cache_info().currsize  # the task client's TLS context, built before the fork
from airflow.sdk.listener import get_listener_manager
listeners = get_listener_manager.cache_info().currsize  # what each task's runner asks for as it starts
from airflow.providers.openlineage.plugins.listener import get_openlineage_listener
client = get_openlineage_listener().adapter._client is not None
from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime
assets = "asset_uris" in ProvidersManagerTaskRuntime()._initialized_cache  # what a DAG's first Asset asks for
line = f"{len(ex.workers)} {'xgboost' in sys.modules} {'feast' in sys.modules} {tls} {listeners} {client} {assets}"
os.write(1, f"\\n{line}\\n".encode())  # one write(2): the workers' log lines on the same pipe cannot split it
ex.end()
"""
    for flag, expected in (("1", "1 True True 1 1 True True"), ("0", "1 False False 0 0 False False")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                             env={**__import__("os").environ, "ML_PLATFORM_PRELOAD": flag})
        assert expected in out.stdout.splitlines(), out.stdout + out.stderr[-2000:]
