"""The platform's lifecycle returns data; ``ml-platform``'s commands print it."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

from ml_platform import cli, lifecycle
from ml_platform.layout import Layout
from ml_platform.state import write_state
from ml_platform.supervisor import stop_order, stop_together


@pytest.fixture
def layout(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    found = Layout(tmp_path / "platform")
    found.ensure_dirs()
    return found


def test_a_platform_never_started_is_down_with_nothing_to_check(layout, capsys):
    status = lifecycle.status(layout)
    assert (status.phase, status.components, status.health, status.serving) == ("down", [], {}, {})
    assert status.database == "embedded"
    assert cli.status(layout) == 0
    out = capsys.readouterr().out
    assert f"platform: down   home: {layout.home}" in out and "database: embedded" in out


def test_status_shows_an_external_database_without_its_password(layout, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:s3cret@db.internal:5432")
    assert lifecycle.status(layout).database == "external postgresql://ml:***@db.internal:5432"
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432")
    assert lifecycle.status(layout).database == "external postgresql://postgres@127.0.0.1:5432"
    assert lifecycle.without_password("not a url") == "not a url"


def test_status_reports_components_from_the_state_file_down_when_no_supervisor_runs(layout):
    write_state(layout.state_file, {"phase": "running", "components": {
        "postgres": {"pid": 999_999, "restarts": 2, "last_exit_code": 1, "last_exit_at": "2026-11-20T06:00:00"}}})
    [postgres] = lifecycle.status(layout).components
    assert postgres == lifecycle.ComponentStatus("postgres", False, 999_999, 2, 1, "2026-11-20T06:00:00")


def test_stopping_a_platform_that_does_not_run_says_so(layout, capsys):
    assert lifecycle.stop(layout) == lifecycle.StopResult(was_running=False, orphans=[])
    assert cli.down(layout) == 0
    assert capsys.readouterr().out.strip() == "platform was not running"


def test_stop_orphans_stops_a_component_its_dead_supervisor_left_and_names_it(layout):
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        write_state(layout.state_file, {"phase": "running", "supervisor_pid": None, "components": {
            "mlflow": {"pid": orphan.pid, "create_time": psutil.Process(orphan.pid).create_time()}}})
        assert lifecycle.stop_orphans(layout) == [f"mlflow (pid {orphan.pid})"]
        assert orphan.wait(timeout=10) is not None
    finally:
        if orphan.poll() is None:
            orphan.kill()
            orphan.wait()


def test_components_stop_callers_first_then_what_they_call_then_the_database():
    names = ["postgres", "alert-sinks", "mlflow", "api-server", "scheduler", "dag-processor", "triggerer",
             "lineage-shipper", "serving-fraud-detection-api", "metrics-exporter", "prometheus", "celery-worker-1"]
    assert stop_order(names) == [
        ["scheduler", "dag-processor", "triggerer", "lineage-shipper", "serving-fraud-detection-api",
         "metrics-exporter", "prometheus", "celery-worker-1"],
        ["alert-sinks", "mlflow", "api-server"],
        ["postgres"]]
    assert stop_order(["mlflow", "scheduler"]) == [["scheduler"], ["mlflow"]]  # an external database: no group


SLOW_TO_STOP = """
import pathlib, signal, sys, time
def stop(*_):
    pathlib.Path(sys.argv[1]).write_text(repr(time.time()))
    time.sleep(1.5)  # finishing its work
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
pathlib.Path(sys.argv[1] + ".ready").touch()
while True:
    time.sleep(0.1)
"""


def test_a_group_is_signalled_at_once_not_each_after_the_last_has_stopped(tmp_path):
    """Two components that take 1.5 s to stop: the second hears SIGTERM while the first is still stopping."""
    marks = [tmp_path / "a", tmp_path / "b"]
    procs = [subprocess.Popen([sys.executable, "-c", SLOW_TO_STOP, str(mark)], start_new_session=True)
             for mark in marks]
    try:
        deadline = time.monotonic() + 30
        while not all(mark.with_suffix(".ready").exists() for mark in marks):
            assert time.monotonic() < deadline, "the test processes never started"
            time.sleep(0.1)
        stop_together([(proc.pid, signal.SIGTERM) for proc in procs])
        assert [proc.wait(timeout=5) for proc in procs] == [0, 0]  # each stopped by itself, none killed
        first, second = sorted(float(mark.read_text()) for mark in marks)
        assert second - first < 1.0, "signalled one after the other"
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_start_result_shows_the_password_once_and_a_failure_with_the_log_tail(layout):
    started = lifecycle.StartResult(True, layout.airflow_url, layout.mlflow_url, "admin", layout.secrets_file,
                                    new_password="s3cret")
    assert "Airflow password (shown once): s3cret" in started.describe()
    assert "user 'admin'" in started.describe() and str(layout.secrets_file) in started.describe()
    again = lifecycle.StartResult(True, layout.airflow_url, layout.mlflow_url, "admin", layout.secrets_file)
    assert "shown once" not in again.describe()
    failed = lifecycle.StartResult(False, layout.airflow_url, layout.mlflow_url, "admin", layout.secrets_file,
                                   log_tail="postgres exited 1")
    assert failed.describe().endswith("supervisor log tail:\npostgres exited 1")


def test_up_prints_what_the_lifecycle_returns(layout, monkeypatch, capsys):
    def start(found, on_progress):
        on_progress("  starting: waiting for mlflow")
        return lifecycle.StartResult(False, found.airflow_url, found.mlflow_url, "admin", found.secrets_file,
                                     log_tail="boom")

    monkeypatch.setattr(lifecycle, "start", start)
    assert cli.up(layout) == 1
    assert capsys.readouterr().out.splitlines() == [
        "  starting: waiting for mlflow", "the platform did not become healthy; supervisor log tail:", "boom"]


def test_log_tail_keeps_the_last_lines_and_names_a_missing_log(layout):
    log = layout.logs / "x.log"
    log.write_text("\n".join(f"line {i}" for i in range(50)))
    assert lifecycle.log_tail(log, 2) == "line 48\nline 49"
    assert lifecycle.log_tail(layout.logs / "missing.log") == f"(no log at {layout.logs / 'missing.log'})"
