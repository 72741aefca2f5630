"""The platform's lifecycle returns data; ``ml-platform``'s commands print it."""

import subprocess
import sys

import psutil
import pytest

from ml_platform import cli, lifecycle
from ml_platform.layout import Layout
from ml_platform.state import write_state


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
