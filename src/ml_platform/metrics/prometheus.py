"""The optional Prometheus server: whether it runs, its configuration and its command line.

Prometheus runs as a platform component only where its binary is installed (Debian's ``prometheus`` package,
2.42) and ``ML_PLATFORM_PROMETHEUS`` is not ``0``; without it the platform starts all the same and the exporter
still serves ``/metrics`` for a team's own Prometheus. It listens on loopback, keeps its data under the platform
folder, scrapes the exporter, and evaluates the committed alert rules (``deploy/prometheus/rules.yml``).

The component is ``python -m ml_platform.metrics.prometheus ...``: it writes ``prometheus.yml`` for this
instance's ports, then replaces itself with the ``prometheus`` binary (same pid: the supervisor's signals reach
Prometheus itself).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

from ml_platform.layout import REPO_ROOT

RULES_FILE = REPO_ROOT / "deploy" / "prometheus" / "rules.yml"
SCRAPE_INTERVAL_S = 10
RETENTION = "15d"
JOB = "ml-platform"
_OFF = ("0", "false", "no", "off")


def prometheus_binary() -> str | None:
    """The ``prometheus`` binary to run, or None when it is not installed or ``ML_PLATFORM_PROMETHEUS=0``."""
    if os.environ.get("ML_PLATFORM_PROMETHEUS", "1").strip().lower() in _OFF:
        return None
    return os.environ.get("ML_PLATFORM_PROMETHEUS_BIN") or shutil.which("prometheus")


def why_not_running() -> str | None:
    """Why Prometheus is not a component here (None when it is), for ``up`` and ``status`` to say."""
    if os.environ.get("ML_PLATFORM_PROMETHEUS", "1").strip().lower() in _OFF:
        return "Prometheus off (ML_PLATFORM_PROMETHEUS=0): not started; the exporter's /metrics is still served"
    if prometheus_binary() is None:
        return ("Prometheus not installed (apt-get install prometheus): not started; the exporter's /metrics is "
                "still served")
    return None


def scrape_config(exporter_url: str, interval_s: int = SCRAPE_INTERVAL_S, rules: Path = RULES_FILE) -> dict:
    """``prometheus.yml``: scrape the exporter (one target: Airflow, the platform database, the model servers)."""
    target = exporter_url.removeprefix("http://").rstrip("/")
    return {"global": {"scrape_interval": f"{interval_s}s", "evaluation_interval": f"{interval_s}s",
                       "external_labels": {"platform": "ml-platform"}},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": JOB, "scrape_timeout": f"{max(1, interval_s - 1)}s",
                                "static_configs": [{"targets": [target]}]}]}


def component_argv(exporter_url: str, folder: Path, port: int, interval_s: int = SCRAPE_INTERVAL_S) -> list[str]:
    """The component's command line: write the configuration under ``folder``, then run Prometheus on ``port``."""
    return [sys.executable, "-m", "ml_platform.metrics.prometheus", "--exporter", exporter_url, "--folder",
            str(folder), "--port", str(port), "--interval", str(interval_s)]


def prometheus_argv(binary: str, config: Path, data: Path, port: int, retention: str = RETENTION) -> list[str]:
    """Command line of a Prometheus server on loopback ``port``, its TSDB in ``data``."""
    return [binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={data}", f"--storage.tsdb.retention.time={retention}", "--log.level=warn"]


def main(argv: list[str] | None = None) -> None:
    """Write ``<folder>/prometheus.yml`` (replaced at every start: ports may change), then exec Prometheus."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exporter", required=True, help="the exporter's base URL, e.g. http://127.0.0.1:9108")
    parser.add_argument("--folder", type=Path, required=True, help="prometheus.yml here, the TSDB in data/")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--interval", type=int, default=SCRAPE_INTERVAL_S, help="scrape and rule interval (s)")
    parser.add_argument("--rules", type=Path, default=RULES_FILE)
    args = parser.parse_args(argv)
    binary = prometheus_binary()
    if binary is None:
        sys.exit(why_not_running())
    args.folder.mkdir(parents=True, exist_ok=True)
    config = args.folder / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(args.exporter, args.interval, args.rules), sort_keys=False))
    command = prometheus_argv(binary, config, args.folder / "data", args.port)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
