"""Where the platform keeps its state, and which ports it listens on."""

from __future__ import annotations

import hashlib
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from ml_pipeline.deployment.client import free_port

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
        return cls(home, int(os.environ.get("ML_PLATFORM_AIRFLOW_PORT", "8080")),
                   int(os.environ.get("ML_PLATFORM_MLFLOW_PORT", "5000")),
                   int(os.environ.get("ML_PLATFORM_SLACK_SINK_PORT", "8091")),
                   int(os.environ.get("ML_PLATFORM_SMTP_SINK_PORT", "8025")),
                   int(os.environ.get("ML_PLATFORM_SERVING_PORT", "8500")),
                   int(os.environ.get("ML_PLATFORM_METRICS_PORT", "9108")),
                   int(os.environ.get("ML_PLATFORM_STATSD_PORT", "9125")),
                   int(os.environ.get("ML_PLATFORM_PROMETHEUS_PORT", "9090")))

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
        """Folder of PostgreSQL's unix socket (no TCP port in the embedded default)."""
        path = self.home / "run"
        if len(str(path)) > MAX_SOCKET_DIR:
            path = Path("/tmp") / f"ml-platform-{hashlib.sha1(str(self.home).encode()).hexdigest()[:10]}"
        return path

    @property
    def lake(self) -> Path:
        """The local data lake folder."""
        return self.home / "lake"

    @property
    def mlflow_artifacts(self) -> Path:
        """Where the MLflow server stores artifacts it receives over HTTP."""
        return self.home / "mlflow-artifacts"

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

    def serving_endpoints(self) -> dict[str, tuple[str, int]]:
        """Model endpoints served by this instance: endpoint name → (model, port).

        Ports go from ``serving_port`` on, in the order of the model configs' file names.
        """
        from ml_pipeline.config import config_dir, load_model_configs

        configs, _ = load_model_configs(sorted(config_dir().glob("*.yaml")))
        named = [(c.deployment.endpoint_name, c.model_name) for c in configs.values() if c.deployment.endpoint_name]
        return {name: (model, self.serving_port + i) for i, (name, model) in enumerate(named)}

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
        layout = cls(home.resolve(), airflow_port=free_port(), mlflow_port=free_port(),
                     slack_sink_port=free_port(), smtp_sink_port=free_port(), serving_port=free_port_range(4),
                     metrics_port=free_port(), statsd_port=free_udp_port(), prometheus_port=free_port())
        layout.ensure_dirs()
        return layout

    def ensure_dirs(self) -> None:
        """Create the folders (idempotent)."""
        for path in (self.home, self.logs, self.airflow_home, self.socket_dir, self.lake, self.mlflow_artifacts,
                     self.alerts_file.parent, self.lineage_events_file.parent):
            path.mkdir(parents=True, exist_ok=True)


def free_port_range(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (for an instance's model endpoints)."""
    for _ in range(50):
        first = free_port()
        if first + count < 65536 and all(_is_free(first + i) for i in range(1, count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def free_udp_port() -> int:
    """A loopback UDP port nobody listens on right now (the exporter's StatsD listener)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
