"""Keeps the platform's components running: starts them in order, restarts crashes.

Run as ``python -m ml_platform.supervisor`` (``ml-platform up`` does it, in the
background). Airflow expects its components to be restarted when they die;
each restart is logged here and counted in the state file that
``ml-platform status`` shows. SIGTERM stops everything in three groups, each at once (``stop_order``).

While it runs, it follows the model configs every ``RECONCILE_INTERVAL_S`` (``reconcile``): model servers
start, stop and restart with their configs, the ``serving_default`` connection follows their endpoints
(``serving_connection``), and a changed ``enabled:`` pauses or unpauses the model's DAGs (``model_switches``).
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
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import psutil

from ml_pipeline.config import config_dir
from ml_pipeline.process_logging import configure_logging
from ml_platform import database, mlflow_auth
from ml_platform.airflow_api import AirflowClient
from ml_platform.components import BIN, EMBEDDED_DATABASE, Component, components, platform_env, pools
from ml_platform.layout import Layout
from ml_platform.process_env import BASIC, only
from ml_platform.reconcile import ConfigFollower, config_fingerprint, follows_configs
from ml_platform.recorded_settings import number_setting
from ml_platform.secrets import ensure_secrets
from ml_platform.state import supervisor_lock, write_state

log = logging.getLogger("ml_platform.supervisor")
MAX_BACKOFF_S = 30.0
STOP_TIMEOUT_S = 30.0
RECONCILE_INTERVAL_S = number_setting("ML_PLATFORM_RECONCILE_INTERVAL_S", 10.0, whole=False)
SESSIONS_ENV = "ML_PLATFORM_COMPONENT_SESSIONS"
CALLED = ("api-server", "mlflow", "alert-sinks")
"""The components the others call while they stop (a task reports its end to the API server, its last alert)."""


class Supervisor:
    """Starts, watches and stops one platform instance's components."""

    def __init__(self, layout: Layout, airflow_client: Callable[[], AirflowClient] | None = None) -> None:
        """Prepare ``layout``'s instance; ``airflow_client`` makes the REST API client (default: the admin's)."""
        self.layout = layout
        self.secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
        self.env = {**os.environ, **platform_env(layout, self.secrets)}
        self.session = session_options()  # a wrong value fails here, before anything starts
        # The configs are loaded here too: their data sources are checked against the lake the tasks see.
        os.environ.update({name: self.env[name] for name in layout.data_env()})
        self.procs: dict[str, subprocess.Popen] = {}
        self.specs: list[Component] = []
        self.state: dict = {"phase": "starting", "supervisor_pid": os.getpid(), "components": {},
                            "supervisor_create_time": psutil.Process().create_time()}  # a reused pid is no supervisor
        self.stopping = False
        self.follower = ConfigFollower(layout, self.env, self.secrets, airflow_client or (lambda: AirflowClient(
            layout.airflow_url, self.secrets["admin_user"], self.secrets["admin_password"])))
        self.next_reconcile = 0.0

    def run(self) -> int:
        """Bootstrap, start every component, supervise until SIGTERM; return the exit code."""
        signal.signal(signal.SIGTERM, self._request_stop)
        signal.signal(signal.SIGINT, self._request_stop)
        # before the specs read it: later edits are followed (the dag-processor, not started yet, parses this state)
        self.follower.seen = self.follower.reparsed_for = config_fingerprint(config_dir())
        try:
            self.specs = specs = components(self.layout)  # (a damaged serving/ports.json fails the start here)
            self._bootstrap(specs)
            for spec in specs:
                if spec.name not in self.procs:
                    self._start(spec)
            self._set_phase("running")
            while not self.stopping:
                self._restart_exited()
                if time.monotonic() >= self.next_reconcile:
                    self._reconcile_safely()
                time.sleep(1.0)
        except Exception:
            log.exception("platform failed to start")
            self._set_phase("failed")
            self._stop_all()
            return 1
        self._stop_all()
        self._set_phase("down")
        return 0

    def _bootstrap(self, specs: list[Component]) -> None:
        self._set_phase("bootstrapping")
        for spec in specs:
            if spec.name == EMBEDDED_DATABASE:
                database.ensure_initialized(self.layout)
                self._start(spec)
        database.wait_ready(self.layout)
        if not database.external_url() and database.require_password(self.layout):
            log.info("the embedded PostgreSQL now asks for its password (it trusted local connections before)")
        database.ensure_databases(self.layout)
        log.info("MLflow's users; migrating the Airflow metadata database; creating the pools")
        users = mlflow_auth.start_users(self.layout, self.secrets, only(self.env, BASIC))  # while Airflow migrates
        try:
            self._migrate_airflow()
            code = users.wait(timeout=120)
        except BaseException:
            users.kill()
            raise
        if code != 0:
            raise RuntimeError(f"cannot write MLflow's users (log: {self.layout.logs / 'mlflow-users.log'})")
        self.follower.start()

    def _migrate_airflow(self) -> None:
        pools_file = self.layout.home / "pools.json"
        pools_file.write_text(json.dumps(pools(), indent=2))
        for argv in (("db", "migrate"), ("pools", "import", str(pools_file))):
            with open(self.layout.logs / "airflow-bootstrap.log", "ab") as out:
                subprocess.run([str(BIN / "airflow"), *argv], env=self.env, stdout=out,
                               stderr=subprocess.STDOUT, check=True)

    def _start(self, spec: Component) -> None:
        out = open(self.layout.logs / f"{spec.name}.log", "ab")  # noqa: SIM115 - the child owns it
        proc = subprocess.Popen(spec.argv, env=spec.environment(self.env), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, user=spec.user, **self.session,
                                cwd=self.layout.home)
        out.close()
        self.procs[spec.name] = proc
        entry = self.state["components"].setdefault(spec.name, {"restarts": 0})
        entry.pop("next_restart_at", None)  # restarted by a reconcile while it waited for its own restart
        entry.update(pid=proc.pid, started_at=_now(), create_time=psutil.Process(proc.pid).create_time(),
                     stop_signal=spec.stop_signal, log=str(self.layout.logs / f"{spec.name}.log"))
        log.info("started %s (pid %d)", spec.name, proc.pid)
        self._save()

    def _restart_exited(self) -> None:
        for spec in self.specs:
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

    def _stop(self, *specs: Component) -> None:
        """Stop ``specs`` at once: each process group signalled, then all waited for."""
        running = [(spec, self.procs.pop(spec.name)) for spec in specs if spec.name in self.procs]
        stop_together([(proc.pid, getattr(signal, spec.stop_signal)) for spec, proc in running])
        for spec, proc in running:
            proc.wait(timeout=5)
            log.info("stopped %s", spec.name)
            self.state["components"][spec.name]["pid"] = None

    def _stop_all(self) -> None:
        self._set_phase("stopping")
        specs = {spec.name: spec for spec in self.specs}
        for group in stop_order(list(specs)):
            self._stop(*(specs[name] for name in group))
        self._save()

    def _reconcile_safely(self) -> None:
        """Reconcile; whatever fails is logged and tried again, never taking the running platform down."""
        try:
            self._reconcile()
        except Exception:  # noqa: BLE001 - a bad config or ports file must not stop what runs
            log.exception("cannot follow the model configs now (trying again in %.0fs)", RECONCILE_INTERVAL_S)
            self.follower.seen = None

    def _reconcile(self) -> None:
        """Bring the model servers, the serving connection and the DAGs' pause state in line with the configs."""
        self.next_reconcile = time.monotonic() + RECONCILE_INTERVAL_S
        change = self.follower.changes([s for s in self.specs if follows_configs(s.name)])
        if change is None:
            return
        self.follower.reparse_dags(change)  # first: the dag-processor parses while the servers start
        todo = change.plan
        self._stop(*todo.stop, *todo.restart)
        for spec in todo.stop:
            self.specs.remove(spec)
            self.state["components"].pop(spec.name, None)
        started = True
        for spec in todo.restart + todo.start:
            try:
                self._start(spec)
            except (OSError, subprocess.SubprocessError, psutil.Error) as exc:
                # not recorded as running: the next reconcile starts it again
                log.warning("cannot start %s now (trying again): %s", spec.name, exc)
                started = False
                continue
            names = [s.name for s in self.specs]
            if spec.name in names:
                self.specs[names.index(spec.name)] = spec
            else:
                self.specs.append(spec)
        self._save()
        self.follower.settle(change, carried_out=started)

    def _request_stop(self, signum: int, _frame: object) -> None:
        log.info("received signal %d: stopping", signum)
        self.stopping = True

    def _set_phase(self, phase: str) -> None:
        self.state["phase"] = phase
        self._save()

    def _save(self) -> None:
        write_state(self.layout.state_file, self.state)


def stop_order(names: list[str]) -> list[list[str]]:
    """The groups ``names`` stop in, each group at once, the database last.

    First everything that calls another component (the scheduler and its task processes, workers, model servers,
    exporters), then what they call (``CALLED``). One at a time, in reverse start order, a stop took 14–21 s on two
    cores; now the slowest of each group.
    """
    last = [name for name in names if name == EMBEDDED_DATABASE]
    called = [name for name in names if name in CALLED]
    return [group for group in ([n for n in names if n not in called + last], called, last) if group]


def session_options() -> dict[str, object]:
    """How ``Supervisor._start`` detaches a component from the supervisor (``ML_PLATFORM_COMPONENT_SESSIONS``).

    ``shared`` (the default): a process group of its own in the supervisor's session, as ``airflow standalone`` runs
    its components; ``own``: a session of its own. Either way a stop signal or kill reaches the component's children
    (the LocalExecutor's workers, Celery's pool processes) and nothing else. Where the kernel shares the cores between
    sessions first (autogroups), a session per component gave each an equal share whatever its processes: Celery's
    scheduler alone got as much as the worker's 32 task processes, and walked the 50 live runs twice as often for no
    more work (docs/DESIGN.md, "Why Celery's scheduler looped more"). In one session the cores go to processes, by nice.
    """
    sessions = os.environ.get(SESSIONS_ENV, "shared")
    if sessions not in ("shared", "own"):
        raise ValueError(f"{SESSIONS_ENV}={sessions!r}: give 'shared' (the components in the supervisor's session, "
                         "the default) or 'own' (a session each)")
    return {"process_group": 0} if sessions == "shared" else {"start_new_session": True}


def stop_together(targets: list[tuple[int, int]]) -> None:
    """``stop_process_tree`` for each (pid, signal) at the same time."""
    if targets:
        with ThreadPoolExecutor(max_workers=len(targets)) as pool:
            list(pool.map(lambda target: stop_process_tree(*target), targets))


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
    configure_logging(stream=sys.stderr)
    layout = Layout.from_env()
    layout.ensure_dirs()
    with supervisor_lock(layout.home):  # one supervisor per home, whatever state.json says
        return Supervisor(layout).run()


if __name__ == "__main__":
    sys.exit(main())
