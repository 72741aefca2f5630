"""The Task Execution API's versioned routes are built before gunicorn's master forks the API-server workers, or
while a worker starts (Airflow's own lifespan enters the plugin's warm-up app), not on the first task's call; task
processes never build the warm-up app."""

import subprocess
import sys
import types

import pytest


def cadwyn_app():
    """A small Cadwyn app: what Airflow mounts at /execution, two versions of one route."""
    from cadwyn import Cadwyn, HeadVersion, Version, VersionBundle, VersionedAPIRouter

    router = VersionedAPIRouter()

    @router.get("/ping")
    def ping() -> dict:
        return {"pong": True}

    app = Cadwyn(versions=VersionBundle(HeadVersion(), Version("2025-02-01"), Version("2025-01-01")),
                 api_version_parameter_name="Airflow-API-Version", api_version_default_value="2025-02-01")
    app.generate_and_include_versioned_routers(router)
    return app


def api_server(monkeypatch):
    """An app as Airflow's API server builds it: its root lifespan, the execution app and the warm-up app mounted,
    served as ``airflow.api_fastapi.main:app``; returns the root and the execution app."""
    from airflow.api_fastapi.app import lifespan  # Airflow's root lifespan: enters every mounted FastAPI app's
    from fastapi import FastAPI

    from ml_pipeline_airflow.dashboard import warmup

    execution = cadwyn_app()
    root = FastAPI(lifespan=lifespan)
    root.mount("/execution", execution)
    root.mount("/ml-platform/startup", warmup.create_app())
    monkeypatch.setitem(sys.modules, "airflow.api_fastapi.main", types.SimpleNamespace(app=root))
    return root, execution


def test_airflows_lifespan_builds_the_execution_apis_routes_before_the_first_request(monkeypatch):
    import logging

    from fastapi.testclient import TestClient

    from ml_pipeline_airflow.dashboard import warmup

    root, execution = api_server(monkeypatch)

    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    monkeypatch.setattr(warmup.log, "handlers", [handler])
    monkeypatch.setattr(warmup.log, "level", logging.INFO)
    assert execution._cadwyn_initialized is False
    with TestClient(root) as client:  # the worker has started; no request yet
        assert execution._cadwyn_initialized is True
        assert [r.getMessage().split(" in ")[0] for r in records] == \
            ["Task Execution API: versioned routes built at start"]  # and no error
        answer = client.get("/execution/ping", headers={"Airflow-API-Version": "2025-01-01"})
        assert answer.status_code == 200 and answer.json() == {"pong": True}
    assert warmup.build_execution_api_routes(root) is False  # built once, not again


@pytest.mark.parametrize("root", [None, types.SimpleNamespace(routes=[])])
def test_without_an_execution_api_the_warm_up_does_nothing(root):
    from ml_pipeline_airflow.dashboard import warmup

    assert warmup.build_execution_api_routes(root) is False


def test_a_failed_warm_up_leaves_the_worker_serving(monkeypatch):
    """Cadwyn raising at start is logged; the worker starts and its first request builds the routes, as before."""
    from fastapi.testclient import TestClient

    root, execution = api_server(monkeypatch)

    def broken() -> None:
        raise RecursionError("a version change Cadwyn cannot apply")

    monkeypatch.setattr(execution, "_cadwyn_initialize", broken)
    with TestClient(root) as client:
        assert execution._cadwyn_initialized is False
        monkeypatch.undo()  # the next attempt, the first request's, works
        monkeypatch.setitem(sys.modules, "airflow.api_fastapi.main", types.SimpleNamespace(app=root))
        assert client.get("/execution/ping").json() == {"pong": True}


def test_a_task_process_loads_the_plugin_without_fastapi_or_the_warm_up():
    code = ("import sys; from ml_pipeline_airflow.dashboard.plugin import MlPlatformPlugin as P; "
            "print([a['name'] for a in P.fastapi_apps], 'fastapi' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == \
        "['ML platform lineage receiver', 'ML platform dashboard'] False", out.stdout + out.stderr[-2000:]


def test_in_the_api_server_the_plugin_mounts_the_warm_up_last():
    code = ("import airflow.api_fastapi.app; from ml_pipeline_airflow.dashboard.plugin import MlPlatformPlugin as P; "
            "print([(a['name'], a['url_prefix']) for a in P.fastapi_apps][-1])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == \
        "('ML platform API-server warm-up', '/ml-platform/startup')", out.stdout + out.stderr[-2000:]


POOL_IN_A_WORKER = """
import os, signal, sys, time
from concurrent.futures import ProcessPoolExecutor
from ml_pipeline_airflow.dashboard.warmup import default_sigterm_in_forked_children
if sys.argv[1] == "app built":
    default_sigterm_in_forked_children()
signal.signal(signal.SIGTERM, lambda *_: None)  # a gunicorn worker's handler: SIGTERM only marks it as stopping
pool = ProcessPoolExecutor(1)  # as the OpenLineage listener's, forked by the worker
print(pool.submit(os.getpid).result(), flush=True)
time.sleep(60)
"""


def gone(proc) -> bool:
    """The process has ended (a zombie waiting for its parent counts)."""
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("app", ["app built", "no app"])
def test_a_process_an_api_server_worker_forks_stops_on_sigterm(app):
    """Without the warm-up app a forked pool process keeps the worker's handler and outlives SIGTERM (`make down`
    waited 30 s for it, then killed it); with it, SIGTERM stops it."""
    import signal
    import time

    import psutil

    worker = subprocess.Popen([sys.executable, "-c", POOL_IN_A_WORKER, app], stdout=subprocess.PIPE, text=True)
    try:
        child = psutil.Process(int(worker.stdout.readline()))
        child.send_signal(signal.SIGTERM)
        # a default SIGTERM ends it at once; a handler that only sets a flag leaves it running
        deadline = time.monotonic() + (10 if app == "app built" else 1)
        while not (stopped := gone(child)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stopped == (app == "app built")
    finally:
        for proc in psutil.Process(worker.pid).children(recursive=True):
            proc.kill()
        worker.kill()
        worker.wait()


def test_the_process_that_forks_the_workers_builds_the_routes_once_before_its_first_fork(monkeypatch):
    """Gunicorn's master loads the app and forks the workers: they start with the routes built, once, in it."""
    import os

    _, execution = api_server(monkeypatch)
    assert execution._cadwyn_initialized is False  # built by nothing yet: no worker has started
    child = os.fork()
    if child == 0:  # a worker, forked from the master: no lifespan entered, no request served
        os._exit(0 if execution._cadwyn_initialized else 1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0, "the forked worker had to build the routes itself"
    assert execution._cadwyn_initialized is True
