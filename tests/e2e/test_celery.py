"""`make up-celery`: the platform on CeleryExecutor, with the machine's real PostgreSQL and Redis.

A task must run on a real Celery worker: this is the test that fails when a celery release breaks the Celery
provider (celery 5.7.0 vs apache-airflow-providers-celery 3.26.0, pinned away in pyproject.toml). Without
PostgreSQL or Redis it is skipped loudly — and `.ci/run` sets ML_REQUIRE_SERVICES=1, which makes that a failure.
"""

import os
import uuid

import psycopg2
import pytest
import redis

from ml_platform import database
from ml_platform.airflow_api import AirflowClient
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.state import read_state
from tests.e2e.test_platform import make

pytestmark = pytest.mark.e2e
SERVER = os.environ.get("ML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("ML_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")


def require_services() -> None:
    try:
        psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3).close()
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except (psycopg2.OperationalError, redis.RedisError) as exc:
        message = f"!!! Celery mode NOT TESTED: PostgreSQL ({SERVER}) or Redis ({REDIS}) unreachable: {exc}"
        if os.environ.get("ML_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def celery_platform(tmp_path_factory):
    require_services()
    layout = Layout.on_free_ports(tmp_path_factory.mktemp("celery"))
    (layout.home / "no-models").mkdir()  # the drill DAGs only: no model servers to start
    prefix = f"mltest_{uuid.uuid4().hex[:8]}_"
    redis.Redis.from_url(REDIS).flushdb()
    env = {**os.environ, **layout.port_env(), "ML_PLATFORM_DATABASE_URL": SERVER, "ML_PLATFORM_REDIS_URL": REDIS,
           "ML_PLATFORM_DATABASE_PREFIX": prefix, "ML_PIPELINE_CONFIG_DIR": str(layout.home / "no-models")}
    started = make("up-celery", env)
    try:
        assert started.returncode == 0, started.stdout[-3000:] + started.stderr[-3000:]
        yield layout, prefix
    finally:
        make("down", env, timeout=180)
        database.drop_databases(SERVER, prefix)
        redis.Redis.from_url(REDIS).flushdb()


def test_a_dag_runs_on_a_real_celery_worker_with_postgres_and_redis(celery_platform):
    layout, prefix = celery_platform
    assert "celery-worker-1" in read_state(layout.state_file)["components"]
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    client.wait_for_dag("platform_failure_drill", timeout=240)
    client.unpause("platform_failure_drill")
    run = client.trigger("platform_failure_drill", None, conf={"mode": "transient", "failures": 0})
    assert client.wait_for_run("platform_failure_drill", run["dag_run_id"], timeout=300) == "success"
    conn = psycopg2.connect(f"{SERVER}/{prefix}airflow")
    with conn.cursor() as cur:  # the metadata lives on the real server; the Celery task id proves who ran it
        cur.execute("SELECT external_executor_id FROM task_instance WHERE dag_id = %s AND run_id = %s",
                    ("platform_failure_drill", run["dag_run_id"]))
        [(celery_task_id,)] = cur.fetchall()
    conn.close()
    assert celery_task_id and len(celery_task_id) == 36  # a Celery task uuid: the LocalExecutor sets none
