"""What the supervisor changes when the model configs change under a running platform.

The model servers (one ``serving-<endpoint>`` per enabled model with an endpoint) and the components that list
them (the metrics exporter scrapes every server) follow the config folder: a new endpoint's server is started, a
removed or disabled one's stopped, and one whose command line changed (the model it serves, its entity key) is
restarted. Every other component is started once and only restarted when it exits. ``plan`` is the pure part;
``ConfigFollower`` reads the folder, keeps the ``serving_default`` connection and the DAGs' pause state in line,
and hands the supervisor the plan to carry out.

Nothing is taken down on a half-read folder: while a config cannot be read, its model keeps its last readable
config (its server, its URL, the exporter's scrape); a folder missing or emptied keeps every server as it is.
"""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ml_pipeline.config import ModelConfig, config_dir, config_files, load_model_configs, misnamed_config_files
from ml_platform import model_switches, serving_connection
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.components import BIN, SERVING_PREFIX, Component, metrics_components, serving_components
from ml_platform.layout import Layout
from ml_platform.secrets import SERVING_ADMIN_TOKEN

log = logging.getLogger("ml_platform.supervisor")

# The components the model configs decide besides the servers (their command lines list the endpoints).
FOLLOWERS = ("metrics-exporter", "prometheus")


def follows_configs(name: str) -> bool:
    """Whether the component ``name`` is reconciled with the model configs while the platform runs."""
    return name.startswith(SERVING_PREFIX) or name in FOLLOWERS


@dataclass(frozen=True)
class ReconcilePlan:
    """The components to start, stop and restart (stop, then start the new spec) to match the configs."""

    start: list[Component] = field(default_factory=list)
    stop: list[Component] = field(default_factory=list)
    restart: list[Component] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether there is anything to do."""
        return bool(self.start or self.stop or self.restart)

    def describe(self) -> str:
        """One line for the supervisor's log."""
        parts = [f"{verb} {', '.join(s.name for s in specs)}" for verb, specs in
                 (("start", self.start), ("stop", self.stop), ("restart", self.restart)) if specs]
        return "; ".join(parts) or "nothing to do"


def plan(desired: Iterable[Component], running: Iterable[Component]) -> ReconcilePlan:
    """What turns ``running`` into ``desired`` (both: the components that follow the configs).

    A component is restarted when anything it is started with differs (command line, environment, user, stop
    signal). A config file that cannot be read is no reason to stop anything: the follower keeps its last readable
    config among the desired ones.
    """
    wanted = {spec.name: spec for spec in desired}
    current = {spec.name: spec for spec in running}
    return ReconcilePlan(
        start=[spec for name, spec in wanted.items() if name not in current],
        stop=[spec for name, spec in current.items() if name not in wanted],
        restart=[spec for name, spec in wanted.items() if name in current and current[name] != spec])


def config_fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """The config folder's YAML files as (name, mtime in ns, size).

    It changes when any file is added, edited or removed: the supervisor reads the configs again only then.
    """
    fingerprint = []
    for path in config_files(folder) + misnamed_config_files(folder):  # a .yml shows its error soon too
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed while listing
            continue
        fingerprint.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(fingerprint)


@dataclass(frozen=True)
class ConfigChange:
    """What the configs ask for now: the plan for the components, and what follows once it is carried out."""

    seen: tuple  # the folder's fingerprint it was read at
    plan: ReconcilePlan
    endpoints: dict[str, tuple[str, int]]  # for ``serving_default``: every server kept or started
    configs: list[ModelConfig]  # the readable ones, whose ``enabled`` the DAGs follow


class ConfigFollower:
    """Reads the model configs when they change; keeps ``serving_default`` and the DAGs' pause state in line."""

    def __init__(self, layout: Layout, env: dict[str, str], secrets: dict[str, str],
                 client: Callable[[], AirflowClient]) -> None:
        self.layout = layout
        self.env = env
        self.secrets = secrets
        self.client = client
        self.seen: tuple | None = None  # the folder's fingerprint when last followed (None: read it again)
        self.endpoints: dict[str, tuple[str, int]] | None = None  # those the serving connection holds
        self.last_good: dict[Path, ModelConfig] = {}  # the configs served: the last readable one of each file
        self.reparsed_for: tuple | None = None  # the folder's fingerprint the DAG files were last parsed for

    @property
    def enabled_file(self) -> Path:
        """Each model's ``enabled`` as last applied to its DAGs (``model_switches``)."""
        return self.layout.home / "serving" / "enabled.json"

    def start(self) -> None:
        """At the platform's start: write ``serving_default``, record each model's ``enabled``.

        Raises:
            subprocess.CalledProcessError: the connection could not be written.
        """
        configs, _ = load_model_configs(config_files())
        self.last_good = dict(configs)
        self.write_connection(self.layout.serving_endpoints(list(configs.values())))
        if model_switches.record_new(self.enabled_file, list(configs.values())):
            self.seen = None  # an `enabled` changed while the platform was down: applied at the first reconcile

    def changes(self, running: list[Component]) -> ConfigChange | None:
        """What turns ``running`` (the components that follow the configs) into what they ask; None: nothing new."""
        seen = config_fingerprint(config_dir())
        if seen == self.seen and self.endpoints is not None:
            return None
        if not seen and self.last_good:
            if seen != self.seen:
                log.warning("%s has no model config (missing or emptied): the model servers keep running as they "
                            "are; put the configs back, or restart the platform to stop them", config_dir())
            self.seen = seen
            return None
        configs, errors = load_model_configs(config_files())
        # a file that cannot be read now keeps its last readable config; one that never could (and every other
        # file) counts as it reads: a broken file elsewhere in the folder must not keep a disabled model served
        readable = {config.model_name for config in configs.values()}  # a readable file of the same model wins
        kept = {path: self.last_good[path] for path in errors
                if path in self.last_good and self.last_good[path].model_name not in readable}
        self.last_good = {**kept, **configs}
        served = list(self.last_good.values())
        desired = serving_components(self.layout, served) + metrics_components(self.layout, served)
        todo = plan(desired, running)
        if todo:
            log.info("the model configs changed: %s%s", todo.describe(),
                     f" ({len(kept)} unreadable config(s) kept as last read)" if kept else "")
        return ConfigChange(seen, todo, self.layout.serving_endpoints(served), list(configs.values()))

    def settle(self, change: ConfigChange, carried_out: bool) -> None:
        """Update the connection and the DAGs' pause state; what failed (or ``carried_out`` false) is tried again."""
        done = self.write_connection(change.endpoints) and self.apply_switches(change.configs)
        self.seen = change.seen if done and carried_out else None

    def reparse_dags(self, change: ConfigChange) -> None:
        """Ask the dag-processor to parse the DAG files now, ahead of its interval, once per state of the folder.

        A model added, changed or removed then shows in seconds, not at the next ``min_file_process_interval``. At
        worst (the API is down), that interval still brings it. A change retried (a server that failed to start)
        asks no second parse of the same folder.
        """
        if change.seen == self.reparsed_for:
            return
        client = self.client()
        try:
            files = client.reparse_dag_files()
        except (AirflowApiError, httpx.HTTPError) as exc:
            log.warning("cannot ask the dag-processor to parse the DAG files now (it will at its interval): %s", exc)
            return
        finally:
            client.close()
        self.reparsed_for = change.seen
        log.info("asked the dag-processor to parse %s now", ", ".join(files) or "no file (no DAG yet)")

    def write_connection(self, endpoints: dict[str, tuple[str, int]]) -> bool:
        """Write ``serving_default`` when its endpoints changed (unless the environment sets it); False: failed.

        Raises:
            subprocess.CalledProcessError: the first write failed (the platform would start without it).
        """
        if endpoints == self.endpoints or not serving_connection.managed(self.env):
            self.endpoints = endpoints
            return True
        try:
            serving_connection.write_connection(
                str(BIN / "airflow"), self.env, self.layout.home,
                serving_connection.serving_connection(endpoints, self.secrets[SERVING_ADMIN_TOKEN]),
                self.layout.logs / "airflow-bootstrap.log")
        except (subprocess.SubprocessError, OSError) as exc:
            if self.endpoints is None:
                raise
            log.warning("cannot update the serving_default connection now (trying again): %s", exc)
            return False
        log.info("serving_default connection: %s", {name: port for name, (_, port) in endpoints.items()})
        self.endpoints = endpoints
        return True

    def apply_switches(self, configs: list[ModelConfig]) -> bool:
        """Pause or unpause the DAGs of models whose ``enabled`` changed; False: the API failed (tried again)."""
        try:
            model_switches.apply_changes(self.enabled_file, configs, self.client)
        except (AirflowApiError, httpx.HTTPError) as exc:
            log.warning("cannot apply a model's enabled: now (trying again): %s", exc)
            return False
        return True
