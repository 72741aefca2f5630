"""One platform per executor for the end-to-end suites that share it, and which tests run on which executor.

``platform`` (package scope) is the embedded default, then CeleryExecutor with the real PostgreSQL and Redis: the
pipeline suite (``test_platform.py``) and the failure-handling suite (``test_failure_handling.py``) run on the same
two platforms, one start each (CI time on two cores), the chaos cases (``test_chaos.py``) on the embedded one and
the fleet's pools (``test_pools.py``) on the Celery one, each adding its models and removing them. The Celery one is
told of a GPU and three training slots at its start, for the fleet's pools (so fraud, `device: auto`, trains in the
`gpu` pool there, and in the `training` pool on the embedded one).

The tests marked ``executor_independent`` test the supervisor or the triggerer, which the executor does not change:
they run on the embedded default only; those marked ``celery_only`` on Celery only (deselected, not skipped, on the
other). ``test_down_stops_every_process_up_started`` runs last on each platform: it stops it.
"""

import os
import re
import shutil

import pytest

from ml_pipeline.config import config_dir
from ml_platform.layout import Layout
from tests.conftest import REPO_ROOT
from tests.support.platforms import EXECUTORS, PAUSED_AT_CREATION, STUCK_AFTER_S, executor_env, make
from tests.support.services import mlflow_login


@pytest.fixture(scope="package", params=EXECUTORS)
def platform(request, tmp_path_factory):
    """``make up`` on the executor, with the fraud model; yields its layout, its environment and what ``up`` printed.

    Every test's runs stay under its control: new DAGs appear paused (a test unpauses or triggers what it runs).
    """
    layout = Layout.on_free_ports(tmp_path_factory.mktemp(f"e2e-{request.param}"))
    configs = layout.home / "model_configs"  # starts with fraud only; a test drops more files in
    configs.mkdir()
    shutil.copy(config_dir() / "fraud_detection.yaml", configs)
    # the rules live beside the configs; no hourly validation run: unpausing the DAG would start the latest hour's
    # run, which waits for today's partition and (max_active_runs=1) holds the test's manual run back
    rules = (REPO_ROOT / "config" / "data_validation_rules.yaml").read_text()
    (layout.home / "data_validation_rules.yaml").write_text(
        re.sub(r"(?m)^schedule: .*$", "schedule: null", rules))
    shutil.copytree(REPO_ROOT / "config" / "schemas", layout.home / "schemas")
    # platform health only when the test asks, and a task waiting 15 s (not 30 min) for a slot counts as stuck
    (layout.home / "platform_health.yaml").write_text(f"schedule: null\nwaiting_minutes: {STUCK_AFTER_S / 60}\n")
    with executor_env(request.param):
        env = {**os.environ, **layout.port_env(), **PAUSED_AT_CREATION, "ML_PIPELINE_CONFIG_DIR": str(configs),
               # a killed worker is found 20 s after its last heartbeat, not 30 s: the same detection (four 5-s
               # heartbeats missed), five kills on the embedded default in the failure suite, a third less waiting
               "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
               # a model config dropped in, switched off or on is followed within 3 s, not 10 s
               "ML_PLATFORM_RECONCILE_INTERVAL_S": "3"}
        if request.param == "celery":  # the fleet's pools: `training.device: auto` models take the gpu pool
            env |= {"ML_PLATFORM_GPUS": "1", "ML_PLATFORM_TRAINING_SLOTS": "3"}
        started = make("up", env)
        try:
            assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
            with mlflow_login(layout):
                yield layout, env, started.stdout
        finally:
            make("down", env, timeout=180)


ONLY_ON = {"executor_independent": "local", "celery_only": "celery"}
LAST = "test_down_stops_every_process_up_started"


@pytest.hookimpl(trylast=True)  # after pytest grouped the tests by platform
def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        executor = on(item)
        only = {ONLY_ON[m.name] for m in item.iter_markers() if m.name in ONLY_ON}
        (drop if executor and only and executor not in only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    for executor in EXECUTORS:  # the test that stops a platform after every other test of that platform
        last = [item for item in keep if on(item) == executor and item.originalname == LAST]
        for item in last:
            keep.remove(item)
        ends = [i for i, item in enumerate(keep) if on(item) == executor]
        at = ends[-1] + 1 if ends else len(keep)
        keep[at:at] = last
    items[:] = keep


def on(item: pytest.Item) -> str | None:
    """The executor of the shared platform the test runs on (None: not on it)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("platform") if callspec is not None else None
