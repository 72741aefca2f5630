"""Where the platform keeps its state, and which ports it listens on."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.deployment.client import free_port
from ml_pipeline.process_env import overlay
from ml_platform.recorded_settings import port_setting

if TYPE_CHECKING:
    from ml_pipeline.config import ModelConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
# A unix socket path must fit in 107 bytes; fall back to a short folder when it would not.
MAX_SOCKET_DIR = 80


@dataclass(frozen=True)
class Layout:
    """Every path and port of one platform instance, derived from its home folder."""

    home: Path
    airflow_port: int = 8080
    mlflow_port: int = 5000
    slack_sink_port: int = 8091
    smtp_sink_port: int = 8025
    serving_port: int = 8500
    metrics_port: int = 9108  # the exporter's /metrics (HTTP)
    statsd_port: int = 9125  # the exporter's StatsD listener (UDP), where Airflow sends its metrics
    prometheus_port: int = 9090  # the optional Prometheus server

    @classmethod
    def from_env(cls) -> Layout:
        """The instance chosen by ``ML_PLATFORM_HOME`` and the port variables (defaults: ``.platform``)."""
        home = Path(os.environ.get("ML_PLATFORM_HOME", REPO_ROOT / ".platform")).resolve()
        return cls(home, port_setting("ML_PLATFORM_AIRFLOW_PORT", 8080), port_setting("ML_PLATFORM_MLFLOW_PORT", 5000),
                   port_setting("ML_PLATFORM_SLACK_SINK_PORT", 8091), port_setting("ML_PLATFORM_SMTP_SINK_PORT", 8025),
                   port_setting("ML_PLATFORM_SERVING_PORT", 8500), port_setting("ML_PLATFORM_METRICS_PORT", 9108),
                   port_setting("ML_PLATFORM_STATSD_PORT", 9125), port_setting("ML_PLATFORM_PROMETHEUS_PORT", 9090))

    def port_env(self) -> dict[str, str]:
        """The environment variables that select this instance (for child processes and ``make``)."""
        return {"ML_PLATFORM_HOME": str(self.home), "ML_PLATFORM_AIRFLOW_PORT": str(self.airflow_port),
                "ML_PLATFORM_MLFLOW_PORT": str(self.mlflow_port),
                "ML_PLATFORM_SLACK_SINK_PORT": str(self.slack_sink_port),
                "ML_PLATFORM_SMTP_SINK_PORT": str(self.smtp_sink_port),
                "ML_PLATFORM_SERVING_PORT": str(self.serving_port),
                "ML_PLATFORM_METRICS_PORT": str(self.metrics_port), "ML_PLATFORM_STATSD_PORT": str(self.statsd_port),
                "ML_PLATFORM_PROMETHEUS_PORT": str(self.prometheus_port)}

    @property
    def alerts_file(self) -> Path:
        """What the local Slack and SMTP sinks received, one JSON object per line."""
        return self.home / "alerts" / "received.jsonl"

    @property
    def lineage_events_file(self) -> Path:
        """The OpenLineage events of every task, one JSON object per line (the file transport's)."""
        return self.home / "lineage" / "events.jsonl"

    @property
    def dlq_spool(self) -> Path:
        """Dead letters written while the database was unreachable, waiting to be moved in."""
        return self.home / "dlq-spool"

    @property
    def prediction_spool(self) -> Path:
        """Prediction-log rows written while the lake was unavailable, one folder per endpoint, moved up later."""
        return self.home / "prediction-spool"

    @property
    def logs(self) -> Path:
        """One log file per component."""
        return self.home / "logs"

    @property
    def prometheus(self) -> Path:
        """The optional Prometheus server's folder: its generated ``prometheus.yml`` and its TSDB (``data``)."""
        return self.home / "prometheus"

    @property
    def airflow_home(self) -> Path:
        """``AIRFLOW_HOME``: task logs and Airflow's own files."""
        return self.home / "airflow"

    @property
    def pgdata(self) -> Path:
        """The embedded PostgreSQL data directory."""
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        """Folder of PostgreSQL's unix socket (no TCP port in the embedded default).

        A home too deep for a socket path gets a short folder in ``/tmp`` instead, whose name anyone can predict:
        the embedded server's start creates it with ``private_dir``, which refuses one it did not make.
        """
        path = self.home / "run"
        if len(str(path)) > MAX_SOCKET_DIR:
            path = Path("/tmp") / f"ml-platform-{hashlib.sha1(str(self.home).encode()).hexdigest()[:10]}"
        return path

    @property
    def pgpass_file(self) -> Path:
        """The libpq password file for the embedded server (mode 0600); its URLs name it (``passfile``)."""
        return self.home / "pgpass"

    @property
    def lake(self) -> Path:
        """The local data lake folder."""
        return self.home / "lake"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where the MLflow server stores artifacts it receives over HTTP."""
        return self.home / "mlflow-artifacts"

    @property
    def mlflow_auth_config(self) -> Path:
        """MLflow's basic-auth app's ini file (``ml_platform.mlflow_auth``; mode 0600, rewritten at every start)."""
        return self.home / "mlflow-auth.ini"

    @property
    def secrets_file(self) -> Path:
        """Generated secrets and the admin login (mode 0600, never committed)."""
        return self.home / "secrets.json"

    @property
    def passwords_file(self) -> Path:
        """Airflow simple-auth-manager password file."""
        return self.home / "airflow-passwords.json"

    @property
    def state_file(self) -> Path:
        """The supervisor's view of its components: pids, restarts, phase."""
        return self.home / "state.json"

    @property
    def serving_ports_file(self) -> Path:
        """Every model endpoint's port, assigned once and kept (``serving_ports``)."""
        return self.home / "serving" / "ports.json"

    def serving_endpoints(self, configs: list[ModelConfig] | None = None) -> dict[str, tuple[str, int]]:
        """Model endpoints served by this instance: endpoint name → (model, port), for the enabled models.

        ``configs`` defaults to the config folder's valid ones. A new endpoint gets a port from ``serving_port`` on,
        recorded in ``serving_ports_file``; an endpoint keeps its port for good, whatever models come or go. The
        supervisor's call; ``recorded_endpoints`` only reads.
        """
        from ml_platform.serving_ports import assign_ports, legacy_endpoints, served_endpoints

        configs = model_configs(self) if configs is None else configs
        served = served_endpoints(configs)
        ports = assign_ports(self.serving_ports_file, list(served), self.serving_port, legacy_endpoints(configs))
        return {name: (model, ports[name]) for name, model in served.items()}

    def recorded_endpoints(self, configs: list[ModelConfig] | None = None) -> dict[str, tuple[str, int]]:
        """``serving_endpoints`` without writing anything: an endpoint not given a port yet is left out.

        Before ``serving_ports_file`` exists (a platform of an earlier release still running), the ports are the
        ones that release gave, which the first start of this one keeps.
        """
        from ml_platform.serving_ports import legacy_endpoints, recorded_ports, served_endpoints

        configs = model_configs(self) if configs is None else configs
        ports = recorded_ports(self.serving_ports_file, legacy_endpoints(configs), self.serving_port)
        return {name: (model, ports[name]) for name, model in served_endpoints(configs).items() if name in ports}

    def data_env(self) -> dict[str, str]:
        """Where this instance's data lives, as its components and tasks are told (``platform_env``).

        A config's ``data.source`` is checked against the lake root when it is loaded: whoever loads the configs
        for this instance (the supervisor, ``ml-platform status``) must see the lake Airflow's tasks see.
        """
        return {"ML_LAKE_URI": self.lake.as_uri(),
                "ML_DATA_URI_MAP": os.environ.get("ML_DATA_URI_MAP", f"s3://ml-data={self.lake.as_uri()}")}

    @property
    def airflow_url(self) -> str:
        """Base URL of the Airflow API server and UI."""
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def mlflow_url(self) -> str:
        """Base URL of the MLflow tracking server and UI."""
        return f"http://127.0.0.1:{self.mlflow_port}"

    @property
    def metrics_url(self) -> str:
        """Base URL of the metrics exporter (``/metrics``)."""
        return f"http://127.0.0.1:{self.metrics_port}"

    @property
    def prometheus_url(self) -> str:
        """Base URL of the optional Prometheus server (UI and HTTP API)."""
        return f"http://127.0.0.1:{self.prometheus_port}"

    @classmethod
    def on_free_ports(cls, home: Path) -> Layout:
        """An extra instance in ``home`` on free ports, beside (not instead of) the default one."""
        with contextlib.ExitStack() as held:  # each port stays bound until all are picked: never one port twice
            airflow, mlflow, slack, smtp, metrics, prometheus = (held_port(held) for _ in range(6))
            serving = free_port_range(4)  # a range over a held port is not free: it cannot overlap them
        layout = cls(home.resolve(), airflow_port=airflow, mlflow_port=mlflow, slack_sink_port=slack,
                     smtp_sink_port=smtp, serving_port=serving, metrics_port=metrics, statsd_port=free_udp_port(),
                     prometheus_port=prometheus)
        layout.ensure_dirs()
        return layout

    def ensure_dirs(self) -> None:
        """Create the folders (idempotent); the socket folder is the embedded server's, made private at its start."""
        for path in (self.home, self.logs, self.airflow_home, self.lake, self.mlflow_artifacts,
                     self.alerts_file.parent, self.lineage_events_file.parent):
            path.mkdir(parents=True, exist_ok=True)


def model_configs(layout: Layout | None = None) -> list[ModelConfig]:
    """The valid model configs of the config folder (``ML_PIPELINE_CONFIG_DIR``), in file-name order.

    With ``layout``, their data sources are checked against that instance's lake (``Layout.data_env``), whatever
    this process's environment says.
    """
    from ml_pipeline.config import config_files, load_model_configs

    with overlay(layout.data_env() if layout else {}):
        configs, _ = load_model_configs(config_files())
    return list(configs.values())


class UnsafeDirectoryError(RuntimeError):
    """A folder the platform must own alone exists already, as a link or someone else's."""


def private_dir(path: Path, owners: set[int]) -> Path:
    """Create ``path`` (mode 0700), or take an existing one only when it is a real folder owned by one of ``owners``.

    Raises:
        UnsafeDirectoryError: ``path`` is a symbolic link, not a folder, or owned by another user.
    """
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    info = os.lstat(path)
    fix = (f"remove it if it is not yours, or set ML_PLATFORM_HOME to a shorter path (at most "
           f"{MAX_SOCKET_DIR - len('/run')} characters) so the socket lives in the platform's own folder")
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise UnsafeDirectoryError(f"{path}: refusing to use it as the database socket folder: it is "
                                   f"{'a symbolic link' if stat.S_ISLNK(info.st_mode) else 'not a folder'}; {fix}")
    if info.st_uid not in owners:
        raise UnsafeDirectoryError(f"{path}: refusing to use it as the database socket folder: it belongs to uid "
                                   f"{info.st_uid}, not to this platform (uid {sorted(owners)}); {fix}")
    os.chmod(path, 0o700)  # a folder we own, checked above; in sticky /tmp nobody else can swap it
    return path


def held_port(stack: contextlib.ExitStack) -> int:
    """A free loopback TCP port, kept bound by a socket that ``stack`` closes.

    Ports picked one after the other with the socket closed in between can repeat (the kernel may hand the same
    ephemeral port out again): an instance once got its MLflow port and its e-mail sink's port equal.
    """
    sock = stack.enter_context(socket.socket())
    sock.bind(("127.0.0.1", 0))
    return sock.getsockname()[1]


def free_ports(count: int) -> list[int]:
    """``count`` different free loopback TCP ports (``held_port`` until all are picked)."""
    with contextlib.ExitStack() as held:
        return [held_port(held) for _ in range(count)]


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (for an instance's model endpoints)."""
    from ml_platform.serving_ports import port_is_free

    for _ in range(50):
        first = free_port()
        if first + count < 65536 and all(port_is_free(first + i) for i in range(1, count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def free_udp_port() -> int:
    """A loopback UDP port nobody listens on right now (the exporter's StatsD listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
