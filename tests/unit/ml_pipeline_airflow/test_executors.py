"""Both executors import the task stack once before forking: the LocalExecutor in the scheduler before its workers,
Celery in the worker master before its pool. Otherwise Airflow's executors, unchanged."""

import socket
import subprocess
import sys
import time

import pytest

from ml_pipeline_airflow.celery_config import CELERY_CONFIG
from ml_pipeline_airflow.executors.preload import PRELOADED_MODULES, guarded, preload


def test_celery_keeps_airflows_defaults():
    from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

    assert CELERY_CONFIG == DEFAULT_CELERY_CONFIG
    assert CELERY_CONFIG["task_acks_late"] is True and CELERY_CONFIG["worker_prefetch_multiplier"] == 1


def test_a_celery_worker_forks_its_pool_with_the_preloaded_stack_frozen():
    """Celery's signals in a worker's order: Airflow's app freezes the collector when its modules are imported, our
    preload comes after (``worker_init``) and is frozen too, so no pool or task process traverses it; the ORM's
    mappers are configured by then (a pool process's first result-backend write configured them: 0.12 s each)."""
    code = ("import gc; from celery import signals; import ml_pipeline_airflow.celery_config; "
            "import airflow.providers.celery.executors.celery_executor_utils; "
            "signals.import_modules.send(sender=None); signals.worker_init.send(sender=None); "
            "from sqlalchemy.orm import mapperlib; registries = mapperlib._all_registries(); "
            "mappers = sum(len(list(r.mappers)) for r in registries) * (not any(r._new_mappers for r in registries)); "
            "import sys; print(len(gc.get_objects()), gc.get_freeze_count(), 'xgboost' in sys.modules, mappers)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    unfrozen, frozen, preloaded, configured = out.stdout.split()[-4:]
    assert preloaded == "True" and int(frozen) > 300_000 and int(unfrozen) < 1_000, out.stdout + out.stderr[-2000:]
    assert int(configured) > 50, out.stdout  # Airflow's models among them, every one configured


# One interpreter that preloads the stack (~15 s on two cores), then forks a task process from it: what the tests
# below read of each (one line each, a single write(2), tagged).
PRELOADED = """
import os, sys
from ml_pipeline_airflow.executors.preload import preload
failed = preload()
from mlflow.utils import requirements_utils as r
os.write(1, f"\\nPRELOAD {failed} {'skops.io' in sys.modules} {bool(r._MODULES_TO_PACKAGES)}\\n".encode())
from airflow.sdk.execution_time import comms, task_runner
from pydantic import ConfigDict, JsonValue, TypeAdapter
parent = id(task_runner.TypeAdapter(comms.ToTask))
pid = os.fork()
if pid == 0:
    one, two = (comms.CommsDecoder[comms.ToTask, comms.ToSupervisor](socket=None) for _ in range(2))
    shared = one.body_decoder is two.body_decoder and id(one.body_decoder) == parent
    message = {"type": "XComResult", "key": "model_uri", "value": {"uri": "models:/fraud/3"}}
    same = one.body_decoder.validate_python(message) == TypeAdapter(comms.ToTask).validate_python(message)
    json_value = task_runner.TypeAdapter(JsonValue) is task_runner.TypeAdapter(JsonValue)
    configured = task_runner.TypeAdapter(JsonValue, config=ConfigDict(strict=True)) is not task_runner.TypeAdapter(
        JsonValue)
    os.write(1, f"\\nFORKED {shared} {same} {json_value} {configured}\\n".encode())
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.fixture(scope="module")
def preloaded() -> str:
    """What the preloading interpreter and its forked task process printed (stdout, then stderr's tail)."""
    out = subprocess.run([sys.executable, "-c", PRELOADED], capture_output=True, text=True, timeout=300)
    return out.stdout + out.stderr[-2000:]


def test_every_preloaded_module_imports_and_a_missing_one_is_reported_not_raised(preloaded):
    assert "PRELOAD [] True True" in preloaded.splitlines(), preloaded
    assert preload(("no_such_module_for_the_test",)) == ["no_such_module_for_the_test"]
    assert PRELOADED_MODULES[0] == "airflow.sdk.execution_time.task_runner"


def test_a_set_up_that_fails_is_logged_by_name_and_the_preload_goes_on(caplog):
    """A set-up broken by an Airflow upgrade leaves each task to do that work itself; it must not stop the worker."""
    def heartbeat_after_start():
        raise AttributeError("ActivitySubprocess has no attribute '_on_child_started'")

    with caplog.at_level("WARNING", logger="ml_pipeline_airflow.executors.preload"):
        guarded(heartbeat_after_start)
    assert [r.getMessage() for r in caplog.records] == [
        "heartbeat_after_start before forking failed: ActivitySubprocess has no attribute '_on_child_started'"]


def test_the_local_executor_preloads_before_its_workers_fork():
    """A real PreloadingLocalExecutor started in a fresh interpreter: the stack is imported, Airflow's plugins with
    their task listeners loaded, the OpenLineage client built and the providers' asset URI handlers found by the time
    its worker processes exist, and kept frozen out of the scheduler's own garbage collections; all turned off by
    ML_PLATFORM_PRELOAD=0."""
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
import gc
frozen = gc.get_freeze_count() > 300_000  # the scheduler's own collections skip the preloaded stack
stack = f"{'xgboost' in sys.modules} {'feast' in sys.modules}"
line = f"{len(ex.workers)} {stack} {tls} {listeners} {client} {assets} {frozen}"
os.write(1, f"\\n{line}\\n".encode())  # one write(2): the workers' log lines on the same pipe cannot split it
ex.end()
"""
    for flag, expected in (("1", "1 True True 1 1 True True True"), ("0", "1 False False 0 0 False False False")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                             env={**__import__("os").environ, "ML_PLATFORM_PRELOAD": flag})
        assert expected in out.stdout.splitlines(), out.stdout + out.stderr[-2000:]


def test_a_forked_task_reuses_the_message_decoders_built_before_the_fork(preloaded):
    """After the preload, a task process forked from it gets the parent's decoders (the same objects, no schema
    built again) and they decode as Airflow's own do; an adapter asked for with options is built as asked."""
    assert "FORKED True True True True" in preloaded.splitlines(), preloaded


def test_a_celery_pool_process_opens_the_result_backend_as_it_starts(tmp_path):
    """In a process forked as Celery's pool forks (billiard), ``worker_process_init`` leaves a pooled connection to
    the result backend on the process's own engine, so its first task's STARTED write neither connects nor compiles;
    not with ``ML_PLATFORM_PRELOAD=0``, which turns the preload off with all it does."""
    code = """
from billiard import Process, Queue
from celery import signals
import ml_pipeline_airflow.celery_config
from airflow.providers.celery.executors.celery_executor_utils import app
app.backend  # created in the master, as a worker's is
found = Queue()
def pool_process():
    signals.worker_process_init.send(sender=None)
    found.put(sum(engine.pool.checkedin() for engine in app.backend.session_manager._engines.values()))
child = Process(target=pool_process)
child.start()
print("pooled", found.get(timeout=120))
child.join()
"""
    for flag, expected in (("1", "pooled 1"), ("0", "pooled 0")):
        env = {**__import__("os").environ, "ML_PLATFORM_PRELOAD": flag,
               "AIRFLOW__CELERY__RESULT_BACKEND": f"db+sqlite:///{tmp_path}/results-{flag}.db"}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
        assert expected in out.stdout.splitlines(), out.stdout + out.stderr[-2000:]


def test_a_pool_process_starts_in_time_when_the_result_backend_host_does_not_answer():
    """billiard replaces a pool process whose ``worker_process_init`` outlasts 4 s. With a result-backend host that
    stopped answering after the worker started (a listener whose one-slot queue is full: the SYN is dropped, as by a
    firewall), the warm-up gives up after ``RESULT_BACKEND_REACH_S`` and says which host, instead of the driver
    waiting minutes; the first task opens the backend then."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)  # fills the queue; later SYNs go unanswered
    code = ("import time; from ml_pipeline_airflow.celery_config import warm_pool_process; "
            "from airflow.providers.celery.executors.celery_executor_utils import app; "
            "app.conf.database_create_tables_at_setup = False; app.backend; "  # the master set up before it went dark
            "started = time.monotonic(); warm_pool_process(); print('took', time.monotonic() - started)")
    env = {**__import__("os").environ, "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://ml@127.0.0.1:{port}/results"}
    started = time.monotonic()
    try:  # the driver alone waited out the kernel's SYN retries (~2 min)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90, env=env)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the warm-up still waited after {time.monotonic() - started:.0f} s") from None
    finally:
        filler.close()
        listener.close()
    took = [float(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("took ")]
    assert took and took[0] < 3, out.stdout + out.stderr[-2000:]
    assert f"result backend at 127.0.0.1:{port} did not answer within 1 s" in out.stdout + out.stderr, out.stdout


def test_a_task_processes_logging_set_up_clears_the_loggers_caches_once_with_the_same_levels(monkeypatch):
    """``dictConfig`` resets each child logger of a configured one; every reset cleared every logger's cache."""
    import logging.config

    from ml_pipeline_airflow.executors.preload import logging_caches_cleared_once

    monkeypatch.setattr(logging.config.DictConfigurator, "configure", logging.config.DictConfigurator.configure)
    cleared = []
    clear = logging.Manager._clear_cache
    monkeypatch.setattr(logging.Manager, "_clear_cache", lambda self: (cleared.append(1), clear(self)))
    children = [logging.getLogger(f"mlp_test_cache.child{i}") for i in range(50)]
    config = {"version": 1, "disable_existing_loggers": False, "loggers": {"mlp_test_cache": {"level": "DEBUG"}}}

    def configure(level: str) -> bool:
        """Configure the parent at ``level``; whether a child (its cache filled before) now logs DEBUG."""
        children[7].setLevel(logging.WARNING)  # reset to NOTSET by dictConfig, as Airflow's set-up does
        logging.getLogger("mlp_test_cache").setLevel(logging.INFO)
        assert not children[7].isEnabledFor(logging.DEBUG)  # the cache now says "no"
        cleared.clear()
        logging.config.dictConfig({**config, "loggers": {"mlp_test_cache": {"level": level}}})
        return children[7].isEnabledFor(logging.DEBUG)

    assert configure("DEBUG") and len(cleared) >= 50  # Python's: once per child logger, at least
    logging_caches_cleared_once()
    logging_caches_cleared_once()  # applied once only
    assert configure("DEBUG") and cleared == [1]  # the same answer, the caches cleared once
    assert not configure("INFO") and cleared == [1]
    assert children[7].level == logging.NOTSET
    assert "_clear_cache" not in vars(logging.Logger.manager)  # nothing left shadowing the method
