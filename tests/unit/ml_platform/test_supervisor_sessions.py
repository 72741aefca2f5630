"""Where the supervisor starts each component: in the supervisor's session by default, each a process group of its own.

Real processes: a component that forks a child (as the LocalExecutor's scheduler forks its workers), started by the
supervisor's own ``_start`` and stopped by its ``_stop``.
"""

import contextlib
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from ml_platform.components import Component
from ml_platform.supervisor import SESSIONS_ENV, Supervisor
from tests.unit.ml_platform.test_supervisor_reconcile import airflow, layout  # noqa: F401 - fixtures

# a parent that forks a child and writes its pid, both sleeping until stopped
FAMILY = ("import subprocess, sys, time; "
          "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
          "open(sys.argv[1], 'w').write(str(child.pid)); time.sleep(120)")


def started_family(supervisor: Supervisor, tmp_path: Path) -> tuple[Component, int, int]:
    """Start FAMILY as a component: (its spec, its pid, its child's pid)."""
    spec = Component("family", [sys.executable, "-c", FAMILY, str(tmp_path / "child.pid")])
    supervisor._start(spec)
    deadline = time.monotonic() + 30
    while not (tmp_path / "child.pid").exists() or not (tmp_path / "child.pid").read_text():
        assert time.monotonic() < deadline, "the component never forked its child"
        time.sleep(0.05)
    return spec, supervisor.procs[spec.name].pid, int((tmp_path / "child.pid").read_text())


def autogroup(pid: int | str) -> str | None:
    """The kernel's CPU group of ``pid`` under autogroups (``/autogroup-N``); None where none applies: a kernel without
    autogroups has no such file, and one whose process sits in a cgroup of its own (a CI container) leaves it empty."""
    path = Path(f"/proc/{pid}/autogroup")
    fields = path.read_text().split() if path.exists() else []
    return fields[0] if fields else None


def ended(process: psutil.Process) -> bool:
    """Gone, or a zombie waiting for whoever adopted it to reap it."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.mark.parametrize("sessions", ["shared", "own"])
def test_a_component_is_a_process_group_stopped_with_its_children_in_the_session_and_cpu_group_the_setting_names(
        layout, tmp_path, monkeypatch, sessions):  # noqa: F811 - the fixture
    """Shared (the default): one session, hence one autogroup, for the supervisor and every component; own: each a
    session, hence a CPU group, of its own. Either way the stop reaches the component's child and nobody else's."""
    if sessions == "own":
        monkeypatch.setenv(SESSIONS_ENV, "own")
    else:
        monkeypatch.delenv(SESSIONS_ENV, raising=False)
    supervisor = Supervisor(layout)
    spec, pid, child = started_family(supervisor, tmp_path)
    try:
        assert os.getpgid(pid) == os.getpgid(child) == pid != os.getpgid(0)  # its own process group, with its child
        if sessions == "shared":
            assert os.getsid(pid) == os.getsid(child) == os.getsid(0)
            assert autogroup(pid) == autogroup(child) == autogroup("self")
        else:
            assert os.getsid(pid) == os.getsid(child) == pid != os.getsid(0)
            if autogroup("self") is not None:
                assert autogroup(pid) == autogroup(child) != autogroup("self")
        child_process = psutil.Process(child)
        supervisor._stop(spec)
        deadline = time.monotonic() + 10
        while not ended(child_process):
            assert time.monotonic() < deadline, "the component's child outlived its stop"
            time.sleep(0.05)
    finally:
        for leftover in (pid, child):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(leftover).kill()


def test_an_unknown_sessions_value_stops_the_supervisor_before_it_starts_anything(layout, monkeypatch):  # noqa: F811
    monkeypatch.setenv(SESSIONS_ENV, "together")
    with pytest.raises(ValueError, match=f"{SESSIONS_ENV}='together': give 'shared' .* or 'own'"):
        Supervisor(layout)
