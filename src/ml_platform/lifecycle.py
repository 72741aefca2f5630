"""Start, stop and inspect the embedded platform: its lifecycle as functions that return data.

``ml-platform up|down|status`` (``ml_platform.cli``) and ``make demo`` (``ml_platform.demo``) both build on this
module and print what it returns; it prints nothing itself. A start takes minutes, so its progress goes to an
``on_progress`` callback as it happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from ml_platform import database, recorded_settings
from ml_platform.components import CELERY_WORKER_PREFIX
from ml_platform.health import platform_health, serving_health
from ml_platform.layout import Layout
from ml_platform.secrets import SERVING_ADMIN_TOKEN, ensure_secrets, read_secret
from ml_platform.serving_ports import PortsFileError
from ml_platform.state import component_alive, is_alive, read_state, supervisor_pid
from ml_platform.supervisor import stop_order, stop_together

START_TIMEOUT_S = 600
STOP_TIMEOUT_S = 120

Progress = Callable[[str], None]
"""Receives one line of progress (``print`` in a terminal)."""


def _silent(_: str) -> None:
    """The default ``on_progress``: report nothing."""


@dataclass(frozen=True)
class StartResult:
    """What ``start`` ended with: whether the platform is healthy, and how a person logs in."""

    healthy: bool
    airflow_url: str
    mlflow_url: str
    admin_user: str
    secrets_file: Path
    new_password: str | None = None  # set only when this start generated the secrets: shown once
    log_tail: str = ""  # the supervisor log's last lines when the platform did not become healthy

    def describe(self) -> str:
        """The lines a person reads after a start: where the UIs are and how to log in, or why it failed."""
        if not self.healthy:
            return f"the platform did not become healthy; supervisor log tail:\n{self.log_tail}"
        lines = [f"Airflow UI:  {self.airflow_url}   (user '{self.admin_user}')",
                 f"MLflow UI:   {self.mlflow_url}   (user 'admin', its password is mlflow_admin_password)"]
        if self.new_password:
            lines.append(f"Airflow password (shown once): {self.new_password}")
        lines.append(f"logins are kept in {self.secrets_file} (mode 0600); `make status` shows where")
        return "\n".join(lines)


@dataclass(frozen=True)
class StopResult:
    """What ``stop`` did: whether a supervisor ran, and the orphaned components it stopped."""

    was_running: bool
    orphans: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ComponentStatus:
    """One supervised process as the state file records it."""

    name: str
    up: bool
    pid: int | None
    restarts: int
    last_exit_code: int | None = None
    last_exit_at: str | None = None


@dataclass(frozen=True)
class PlatformStatus:
    """The platform now: its phase, each component, the health checks and the model servers (when running)."""

    phase: str  # "down" when no supervisor runs
    layout: Layout
    components: list[ComponentStatus]
    health: dict[str, bool]  # empty when down
    serving: dict[str, tuple[str, int, str]]  # endpoint -> (model, port, what the server says); empty when down
    database: str  # "embedded", or "external <url>"
    serving_problem: str | None = None  # why the model servers' ports cannot be read (a damaged ports.json)


def start(layout: Layout, on_progress: Progress = _silent) -> StartResult:
    """Start the platform in the background (unless it runs) and wait until every component is healthy."""
    layout.ensure_dirs()
    first_time = not layout.secrets_file.exists()
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    if supervisor_pid(layout.state_file) is None:
        stop_orphans(layout, on_progress)
        recorded_settings.record(layout.home)  # what later commands take where their shell lacks it
        log = open(layout.logs / "supervisor.log", "ab")  # noqa: SIM115 - handed to the child
        subprocess.Popen([sys.executable, "-m", "ml_platform.supervisor"], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        on_progress(f"starting the platform in {layout.home} (logs: {layout.logs})")
    healthy = _wait_healthy(layout, on_progress)
    return StartResult(healthy, layout.airflow_url, layout.mlflow_url, secrets["admin_user"], layout.secrets_file,
                       new_password=secrets["admin_password"] if first_time else None,
                       log_tail="" if healthy else log_tail(layout.logs / "supervisor.log"))


def stop(layout: Layout, on_progress: Progress = _silent) -> StopResult:
    """Stop exactly the processes ``start`` started (and components a dead supervisor left behind)."""
    pid = supervisor_pid(layout.state_file)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    return StopResult(was_running=pid is not None, orphans=stop_orphans(layout, on_progress))


def stop_orphans(layout: Layout, on_progress: Progress = _silent) -> list[str]:
    """Stop components whose supervisor died without stopping them (e.g. it was SIGKILLed); name each one.

    ``on_progress`` hears of each before it is stopped; they stop in the supervisor's groups (``stop_order``).
    """
    alive = {name: entry for name, entry in read_state(layout.state_file).get("components", {}).items()
             if component_alive(entry)}
    stopped = []
    for group in stop_order(list(alive)):
        for name in group:
            on_progress(f"stopping orphaned {name} (pid {alive[name]['pid']})")
            stopped.append(f"{name} (pid {alive[name]['pid']})")
        stop_together([(alive[name]["pid"], getattr(signal, alive[name].get("stop_signal", "SIGTERM")))
                       for name in group])
    return stopped


def status(layout: Layout) -> PlatformStatus:
    """Each component's pid, liveness and restarts; the health checks and model servers when running.

    It writes nothing: the model servers' ports are the ones recorded (``Layout.recorded_endpoints``).
    """
    state = read_state(layout.state_file)
    running = supervisor_pid(layout.state_file) is not None
    components = [
        ComponentStatus(name, running and component_alive(entry), entry.get("pid"), entry.get("restarts", 0),
                        entry.get("last_exit_code"), entry.get("last_exit_at"))
        for name, entry in state.get("components", {}).items()
    ]
    token = read_secret(layout.secrets_file, SERVING_ADMIN_TOKEN)
    try:  # read only: the ports the running supervisor gave (status never assigns one; docs/DESIGN.md)
        endpoints, problem = (layout.recorded_endpoints() if running else {}), None
    except PortsFileError as exc:  # said in its own line: the other rows still matter
        endpoints, problem = {}, str(exc)
    serving = {endpoint: (model, port, serving_health(port, token, model))
               for endpoint, (model, port) in endpoints.items()}
    external = database.external_url()
    phase = state.get("phase", "down") if "supervisor_pid" in state else f"running ({layout.state_file} unreadable)"
    return PlatformStatus(phase if running else "down", layout, components,
                          platform_health(layout, celery_workers(state)) if running else {}, serving,
                          f"external {without_password(external)}" if external else "embedded", problem)


def without_password(url: str) -> str:
    """A database URL to show on screen: its password as ``***`` (the URL as given when it does not parse)."""
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def celery_workers(state: dict) -> list[str]:
    """The Celery workers among the supervisor's components (none with the LocalExecutor)."""
    return [name for name in state.get("components", {}) if name.startswith(CELERY_WORKER_PREFIX)]


def log_tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def _wait_healthy(layout: Layout, on_progress: Progress) -> bool:
    """Poll the health checks until all pass, the supervisor fails or dies, or ``START_TIMEOUT_S`` passes."""
    started = time.monotonic()
    shown = None
    while time.monotonic() < started + START_TIMEOUT_S:
        state = read_state(layout.state_file)
        supervisor_gone = supervisor_pid(layout.state_file) is None and time.monotonic() > started + 10
        if state.get("phase") == "failed" or supervisor_gone:
            return False
        waiting = [name for name, healthy in platform_health(layout, celery_workers(state)).items() if not healthy]
        if not waiting and state.get("phase") == "running":  # every component started: the workers are in the state
            return True
        message = f"  {state.get('phase', 'starting')}: waiting for {', '.join(waiting) or 'its components to start'}"
        if message != shown:
            on_progress(message)
            shown = message
        time.sleep(2)
    return False
