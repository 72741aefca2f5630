"""A real Prometheus and the platform's metrics exporter for tests, and the PromQL the platform is checked with.

The queries are the ones docs/DESIGN.md ("Metrics and Prometheus") suggests for dashboards; the integration test
(tests/integration/test_prometheus.py) and the end-to-end test on a live platform both ask them through
Prometheus' HTTP API (``/api/v1/query``).
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from ml_platform.metrics import prometheus
from ml_platform.metrics.exporter import DATABASE_URL_ENV, exporter_argv
from ml_platform.supervisor import stop_process_tree
from tests.support.services import wait_http


def dag_run_duration(dag_id: str, state: str = "success") -> str:
    """PromQL: mean duration in seconds of ``dag_id``'s runs that ended in ``state`` (Airflow's StatsD timer)."""
    selector = f'{{dag_id="{dag_id}"}}'
    return (f"sum by (dag_id) (airflow_dagrun_duration_{state}_seconds_sum{selector})"
            f" / sum by (dag_id) (airflow_dagrun_duration_{state}_seconds_count{selector})")


def drift_score(model: str, feature: str | None = None) -> str:
    """PromQL: the drift score of ``model``'s ``feature`` (the highest of its features when None), newest check."""
    if feature is None:
        return f'max by (model) (ml_model_feature_drift_score{{model="{model}"}})'
    return f'max by (model, feature) (ml_model_feature_drift_score{{model="{model}", feature="{feature}"}})'


def serving_latency(endpoint: str, quantile: float = 0.95, window: str = "5m") -> str:
    """PromQL: the ``quantile`` of ``/predict`` latency in seconds at ``endpoint`` over ``window``."""
    return (f"histogram_quantile({quantile}, sum by (le) (rate(ml_serving_request_duration_seconds_bucket"
            f'{{endpoint="{endpoint}", path="/predict"}}[{window}])))')


def query(prometheus_url: str, promql: str) -> list[dict]:
    """The result vector of an instant query (``/api/v1/query``); ``AssertionError`` when Prometheus refuses it."""
    body = httpx.get(f"{prometheus_url}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert body["status"] == "success", f"{promql}: {body}"
    return body["data"]["result"]


def wait_for_value(prometheus_url: str, promql: str, timeout: float = 60,
                   until: Callable[[float], bool] = math.isfinite) -> float:
    """Poll ``promql`` until it returns one value that is ``until`` (finite); return it.

    Raises:
        AssertionError: No such value within ``timeout`` seconds (the message has the last answer).
    """
    deadline, result = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        result = query(prometheus_url, promql)
        values = [float(r["value"][1]) for r in result]
        if len(values) == 1 and math.isfinite(values[0]) and until(values[0]):
            return values[0]
        time.sleep(1)
    raise AssertionError(f"{promql} gave no single value as awaited within {timeout:.0f}s; last: {result}")


def required_binary(name: str) -> str:
    """The path of ``name`` (``prometheus``, ``promtool``); skipped loudly without it, a failure under
    ML_REQUIRE_PROMETHEUS=1 (CI installs Debian's ``prometheus`` package, which has both)."""
    found = shutil.which(name)
    if found is None:
        message = f"!!! Prometheus NOT TESTED: {name} is not installed (apt-get install prometheus)"
        if os.environ.get("ML_REQUIRE_PROMETHEUS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def prometheus_binary() -> str:
    """The ``prometheus`` binary (see ``required_binary``)."""
    return required_binary("prometheus")


@contextlib.contextmanager
def _running(argv: list[str], env: dict[str, str], log: Path, port: int, ready_path: str) -> Iterator[str]:
    """A real process on ``port``, waited for until ``ready_path`` answers; yield its URL, stop its tree after."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}{ready_path}", timeout=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_process_tree(proc.pid, signal.SIGTERM, timeout=15)
        proc.wait(timeout=10)


def running_exporter(port: int, statsd_port: int, endpoints: dict[str, str], database_url: str | None,
                     log: Path) -> contextlib.AbstractContextManager[str]:
    """The real exporter process (``python -m ml_platform.metrics.exporter``); yield its URL, stop it after."""
    env = {**os.environ, DATABASE_URL_ENV: database_url} if database_url else dict(os.environ)
    return _running(exporter_argv(port, statsd_port, endpoints), env, log, port, "/metrics")


def running_prometheus(exporter_url: str, folder: Path, port: int,
                       interval_s: int = 1) -> contextlib.AbstractContextManager[str]:
    """The real Prometheus, started as the platform starts it, scraping ``exporter_url``; yield its URL."""
    prometheus_binary()
    return _running(prometheus.component_argv(exporter_url, folder, port, interval_s), dict(os.environ),
                    folder.parent / "prometheus.log", port, "/-/ready")
