"""Keeps the platform's components running: starts them in order, restarts crashes.

Run as ``python -m ml_platform.supervisor`` (``ml-platform up`` does it, in the
background). Airflow expects its components to be restarted when they die;
each restart is logged here and counted in the state file that
``ml-platform status`` shows. SIGTERM stops everything in reverse order.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import signal
import subprocess
import sys
import time

import psutil

from ml_platform import database
from ml_platform.components import BIN, EMBEDDED_DATABASE, Component, components, platform_env, pools
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.state import write_state

log = logging.getLogger("ml_platform.supervisor")
MAX_BACKOFF_S = 30.0
STOP_TIMEOUT_S = 30.0


class Supervisor:
    """Starts, watches and stops one platform instance's components."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.env = {**os.environ, **platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))}
        self.procs: dict[str, subprocess.Popen] = {}
        self.state: dict = {"phase": "starting", "supervisor_pid": os.getpid(), "components": {}}
        self.stopping = False

    def run(self) -> int:
        """Bootstrap, start every component, supervise until SIGTERM; return the exit code."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        specs = components(self.layout)
        try:
            self._bootstrap(specs)
            for spec in specs:
                if spec.name not in self.procs:
                    self._start(spec)
            self._set_phase("running")
            while not self.stopping:
                self._restart_exited(specs)
                time.sleep(1.0)
        except Exception:
            log.exception("platform failed to start")
            self._set_phase("failed")
            self._stop_all(specs)
            return 1
        self._stop_all(specs)
        self._set_phase("down")
        return 0

    def _bootstrap(self, specs: list[Component]) -> None:
        self._set_phase("bootstrapping")
        for spec in specs:
            if spec.name == EMBEDDED_DATABASE:
                database.ensure_initialized(self.layout)
                self._start(spec)
        database.wait_ready(self.layout)
        database.ensure_databases(self.layout)
        log.info("migrating the Airflow metadata database; creating the pools")
        pools_file = self.layout.home / "pools.json"
        pools_file.write_text(json.dumps(pools(), indent=2))
        for argv in (("db", "migrate"), ("pools", "import", str(pools_file))):
            with open(self.layout.logs / "airflow-bootstrap.log", "ab") as out:
                subprocess.run([str(BIN / "airflow"), *argv], env=self.env, stdout=out,
                               stderr=subprocess.STDOUT, check=True)

    def _start(self, spec: Component) -> None:
        out = open(self.layout.logs / f"{spec.name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(spec.argv, env={**self.env, **spec.env}, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True, user=spec.user,
                                cwd=self.layout.home)
        out.close()
        self.procs[spec.name] = proc
        entry = self.state["components"].setdefault(spec.name, {"restarts": 0})
        entry.update(pid=proc.pid, started_at=_now(), create_time=psutil.Process(proc.pid).create_time(),
                     stop_signal=spec.stop_signal, log=str(self.layout.logs / f"{spec.name}.log"))
        log.info("started %s (pid %d)", spec.name, proc.pid)
        self._save()

    def _restart_exited(self, specs: list[Component]) -> None:
        for spec in specs:
            proc = self.procs.get(spec.name)
            if proc is None or proc.poll() is None:
                continue
            entry = self.state["components"][spec.name]
            if "next_restart_at" not in entry:
                kill_process_group(proc.pid)  # its children (e.g. LocalExecutor workers) outlive a crash
                backoff = min(2.0 ** entry["restarts"], MAX_BACKOFF_S)
                entry.update(last_exit_code=proc.returncode, last_exit_at=_now(), next_restart_at=time.time() + backoff)
                log.warning("%s (pid %d) exited with code %s; restarting in %.0fs",
                            spec.name, proc.pid, proc.returncode, backoff)
                self._save()
            elif time.time() >= entry["next_restart_at"]:
                del entry["next_restart_at"]
                entry["restarts"] += 1
                log.warning("restarting %s (restart #%d)", spec.name, entry["restarts"])
                self._start(spec)

    def _stop_all(self, specs: list[Component]) -> None:
        self._set_phase("stopping")
        for spec in reversed(specs):
            proc = self.procs.pop(spec.name, None)
            if proc is not None:
                stop_process_tree(proc.pid, getattr(signal, spec.stop_signal))
                proc.wait(timeout=5)
                log.info("stopped %s", spec.name)
                self.state["components"][spec.name]["pid"] = None
        self._save()

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("received signal %d: stopping", signum)
        self.stopping = True

    def _set_phase(self, phase: str) -> None:
        self.state["phase"] = phase
        self._save()

    def _save(self) -> None:
        write_state(self.layout.state_file, self.state)


def stop_process_tree(pid: int, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_S) -> None:
    """Signal a component's process group, then kill whatever of its tree outlives ``timeout``."""
    try:
        tree = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        kill_process_group(pid)
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)
    _, alive = psutil.wait_procs(tree, timeout=timeout)
    for proc in alive:
        log.warning("killing pid %d: still running %.0fs after the stop signal", proc.pid, timeout)
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)
    kill_process_group(pid)


def kill_process_group(pgid: int) -> None:
    """SIGKILL what is left in a component's process group (idle LocalExecutor workers ignore SIGTERM)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def main() -> int:
    """Entry point: supervise the instance chosen by the environment."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    layout = Layout.from_env()
    layout.ensure_dirs()
    return Supervisor(layout).run()


if __name__ == "__main__":
    sys.exit(main())
