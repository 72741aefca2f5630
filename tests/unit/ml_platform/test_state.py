import os
import time

import psutil

from ml_platform.state import component_alive, read_state, write_state


def test_a_reused_pid_is_not_taken_for_the_component():
    me = psutil.Process(os.getpid())
    assert component_alive({"pid": me.pid, "create_time": me.create_time()})
    assert not component_alive({"pid": me.pid, "create_time": me.create_time() - 3600})
    assert not component_alive({"pid": None})


def test_state_round_trip_and_missing_file(tmp_path):
    assert read_state(tmp_path / "state.json") == {"phase": "down", "components": {}}
    write_state(tmp_path / "state.json", {"phase": "running", "components": {"x": {"pid": 1}}})
    assert read_state(tmp_path / "state.json")["components"]["x"]["pid"] == 1


HOLDER = """
import sys, time
from pathlib import Path
from ml_platform.state import supervisor_lock
with supervisor_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def holding_supervisor(home):
    """A process named like a supervisor (its command line holds ml_platform.supervisor) that holds home's lock."""
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-c", HOLDER, str(home), "ml_platform.supervisor"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "held"
    return process


def test_the_supervisor_is_found_by_its_lock_whatever_the_state_file_says(tmp_path):
    """A damaged state.json read as "down": `down` left everything running and `up` started a second supervisor."""
    import subprocess
    import sys

    import pytest

    from ml_platform.state import supervisor_lock, supervisor_pid

    state = tmp_path / "state.json"
    process = holding_supervisor(tmp_path)
    try:
        for damaged in ("", '{"phase": "run', "[1, 2]", '{"components": []}'):
            state.write_text(damaged)
            assert read_state(state) == {"phase": "down", "components": {}}
            assert supervisor_pid(state) == process.pid
        second = subprocess.run([sys.executable, "-c", HOLDER, str(tmp_path), "ml_platform.supervisor"],
                                capture_output=True, text=True, timeout=60)
        assert second.returncode == 1 and second.stderr.strip() == (
            f"a supervisor runs for {tmp_path} already (pid {process.pid}, it holds {tmp_path / 'supervisor.lock'}):"
            " `ml-platform down` stops it")
        with pytest.raises(SystemExit), supervisor_lock(tmp_path, wait_s=0.2):
            pass
    finally:
        process.kill()
        process.wait()
    assert supervisor_pid(state) is None  # killed: the kernel let go of its lock


def test_a_supervisor_pid_reused_since_is_not_the_supervisor(tmp_path):
    """Without a lock (a supervisor of an earlier release), the state's pid counts only if it started then."""
    import subprocess
    import sys

    from ml_platform.state import supervisor_pid

    state = tmp_path / "state.json"
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ml_platform.supervisor"])
    try:
        while not psutil.Process(other.pid).cmdline():  # still exec-ing its interpreter
            time.sleep(0.01)
        started = psutil.Process(other.pid).create_time()
        write_state(state, {"phase": "running", "supervisor_pid": other.pid, "supervisor_create_time": started,
                            "components": {}})
        assert supervisor_pid(state) == other.pid
        write_state(state, {"phase": "running", "supervisor_pid": other.pid, "supervisor_create_time": started - 60,
                            "components": {}})
        assert supervisor_pid(state) is None  # the pid of a supervisor gone a minute ago, another process's now
    finally:
        other.kill()
        other.wait()


def test_status_says_the_platform_runs_when_its_state_file_is_damaged(tmp_path):
    from ml_platform.layout import Layout
    from ml_platform.lifecycle import status

    layout = Layout.on_free_ports(tmp_path)
    layout.ensure_dirs()
    layout.state_file.write_text('{"phase": "run')
    process = holding_supervisor(layout.home)
    try:
        assert status(layout).phase == f"running ({layout.state_file} unreadable)"
    finally:
        process.kill()
        process.wait()
    assert status(layout).phase == "down"


def test_status_of_a_running_platform_with_a_damaged_ports_file_keeps_its_other_rows(tmp_path, capsys, monkeypatch):
    """`ml-platform status` was a traceback (the ports file read for the serving rows): now one row says why."""
    from ml_platform.cli import status as print_status
    from ml_platform.layout import Layout
    from ml_platform.lifecycle import status

    layout = Layout.on_free_ports(tmp_path)
    layout.ensure_dirs()
    layout.serving_ports_file.parent.mkdir(parents=True, exist_ok=True)
    layout.serving_ports_file.write_text('{"fraud-detection-api": 8500, "recommendation-api": 8500}')
    process = holding_supervisor(layout.home)
    try:
        now = status(layout)
        assert print_status(layout) == 0
    finally:
        process.kill()
        process.wait()
    assert now.phase.startswith("running") and now.serving == {}
    assert now.serving_problem.startswith(f"{layout.serving_ports_file}: endpoints 'fraud-detection-api' and ")
    out = capsys.readouterr().out
    assert f"  serving: ports unknown: {layout.serving_ports_file}: endpoints 'fraud-detection-api'" in out
    assert "database: embedded" in out and "health scheduler" in out
