"""Platform instances for end-to-end tests, on either executor.

``local``: the embedded default (LocalExecutor, embedded PostgreSQL). ``celery``: `make up-celery`'s shape,
CeleryExecutor on this machine's real PostgreSQL (databases under a unique prefix, dropped afterwards) and Redis
(a test database, flushed). Without PostgreSQL or Redis the Celery tests are skipped loudly; `.ci/run` sets
ML_REQUIRE_SERVICES=1, which turns that skip into a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import redis

from ml_pipeline.process_env import overlay
from ml_platform import database

EXECUTORS = ["local", "celery"]
SERVER = os.environ.get("ML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
CHECKOUT = Path(__file__).resolve().parents[2]
REDIS = os.environ.get("ML_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
# The platform starts an enabled model's DAGs unpaused (they run on their crons); a test platform keeps every run
# under the test's control: new DAGs appear paused, and a test unpauses or triggers what it runs.
PAUSED_AT_CREATION = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
# On a test platform, platform health counts a task waiting this long for a slot as stuck (the default: 30 min).
STUCK_AFTER_S = 15


def require_services() -> None:
    """Skip (fail under ML_REQUIRE_SERVICES) unless the real PostgreSQL and Redis answer."""
    try:
        psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3).close()
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except (psycopg2.OperationalError, redis.RedisError) as exc:
        message = f"!!! Celery mode NOT TESTED: PostgreSQL ({SERVER}) or Redis ({REDIS}) unreachable: {exc}"
        if os.environ.get("ML_REQUIRE_SERVICES"):
            pytest.fail(message)
        pytest.skip(message)


@contextlib.contextmanager
def executor_env(executor: str) -> Iterator[dict[str, str]]:
    """The settings of a platform on ``executor``, set in this process while it lives (the tests and the CLIs they
    run reach the platform's databases with the same code); its external databases are dropped afterwards."""
    if executor == "local":
        extra = {}
    else:
        require_services()
        extra = {"ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_DATABASE_URL": SERVER, "ML_PLATFORM_REDIS_URL": REDIS,
                 "ML_PLATFORM_DATABASE_PREFIX": f"mltest_{uuid.uuid4().hex[:8]}_"}
        redis.Redis.from_url(REDIS).flushdb()
    try:
        with overlay(extra):
            yield extra
    finally:
        if executor == "celery":
            database.drop_databases(SERVER, extra["ML_PLATFORM_DATABASE_PREFIX"])
            redis.Redis.from_url(REDIS).flushdb()


def make(target: str, env: dict, timeout: float = 600) -> subprocess.CompletedProcess:
    """``make <target>`` in the checkout, as a user types it."""
    return subprocess.run(["make", "--no-print-directory", target], cwd=CHECKOUT, env=env, capture_output=True,
                          text=True, timeout=timeout)
