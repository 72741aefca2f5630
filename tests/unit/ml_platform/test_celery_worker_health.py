"""Whether the platform's Celery workers answer: a ping through the real Redis broker, to a real Celery worker.

Airflow's health report does not cover Celery workers, so ``up`` and ``status`` ask the workers themselves.
"""

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from ml_platform import health, lifecycle
from ml_platform.components import celery_node
from ml_platform.layout import Layout, free_ports
from tests.support.platforms import REDIS, require_services

CELERY = Path(sys.executable).parent / "celery"


def next_database(url: str) -> str:
    """The same Redis server's next database (of the 16 a default server has)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{(int(parts.path.strip('/') or 0) + 1) % 16}"))


# not the e2e Celery platform's database: that platform flushes it at start and end, and `make test` may run it
# while this test runs
BROKER = next_database(REDIS)


@pytest.fixture
def broker(monkeypatch):
    require_services()
    monkeypatch.setattr(health, "REDIS_URL", BROKER)
    return BROKER


def start_worker(layout: Layout, name: str, tmp_path: Path) -> subprocess.Popen:
    """A plain Celery worker under the node name the platform gives component ``name`` (``-P solo``: no pool)."""
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen([str(CELERY), "-b", BROKER, "worker", "-n", celery_node(layout, name), "-P", "solo",
                             "--without-mingle", "--without-gossip", "-l", "INFO"],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    log.close()
    return proc


def answers_within(layout: Layout, workers: list[str], seconds: float) -> dict[str, bool]:
    deadline = time.monotonic() + seconds
    while not all((found := health.celery_workers_answer(layout, workers)).values()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return found


def test_a_worker_is_healthy_once_it_answers_and_another_platforms_worker_does_not_count(broker, tmp_path):
    port, other_port = free_ports(2)
    ours, theirs = Layout(tmp_path / "ours", airflow_port=port), Layout(tmp_path / "theirs", airflow_port=other_port)
    assert health.celery_workers_answer(ours, ["celery-worker-1"]) == {"celery-worker-1": False}  # none started
    worker = start_worker(theirs, "celery-worker-1", tmp_path)  # the same component name, another platform
    try:
        assert answers_within(theirs, ["celery-worker-1"], 60) == {"celery-worker-1": True}, (
            (tmp_path / "celery-worker-1.log").read_text())
        assert health.celery_workers_answer(ours, ["celery-worker-1", "celery-worker-2"]) == {
            "celery-worker-1": False, "celery-worker-2": False}
        assert health.celery_workers_answer(ours, []) == {}  # the LocalExecutor: nothing asked, nothing waited for
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    assert health.celery_workers_answer(theirs, ["celery-worker-1"]) == {"celery-worker-1": False}  # stopped


def test_no_worker_is_healthy_while_the_broker_is_down(tmp_path, monkeypatch):
    monkeypatch.setattr(health, "REDIS_URL", f"redis://127.0.0.1:{free_ports(1)[0]}/0")  # nothing listens there
    assert health.celery_workers_answer(Layout(tmp_path), ["celery-worker-1"]) == {"celery-worker-1": False}


def test_up_and_status_ask_the_workers_among_the_components():
    state = {"components": {"scheduler": {}, "celery-worker-1": {}, "celery-worker-2": {}, "serving-fraud": {}}}
    assert lifecycle.celery_workers(state) == ["celery-worker-1", "celery-worker-2"]
    assert lifecycle.celery_workers({"phase": "starting"}) == []
