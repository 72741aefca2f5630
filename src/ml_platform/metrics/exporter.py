"""The metrics exporter: the platform's one Prometheus scrape target.

Run: ``python -m ml_platform.metrics.exporter --port 9108 --statsd-port 9125 --serving fraud=http://127.0.0.1:8500``
(``make up`` runs it as the ``metrics-exporter`` component, with the platform database's URL in
``ML_PLATFORM_METRICS_DATABASE_URL``). It serves ``GET /metrics`` with three sources behind it: Airflow's StatsD
packets received on a loopback UDP port (``statsd_bridge``), gauges read from the platform database at each scrape
(``platform_db``), and each model server's ``/metrics`` labelled with its endpoint (``model_servers``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from prometheus_client import CollectorRegistry, start_http_server

from ml_pipeline.process_logging import NAMED_FORMAT, configure_logging
from ml_platform.metrics.model_servers import ModelServerCollector
from ml_platform.metrics.platform_db import PlatformDatabaseCollector
from ml_platform.metrics.statsd_bridge import StatsdCollector, StatsdListener

DATABASE_URL_ENV = "ML_PLATFORM_METRICS_DATABASE_URL"
# Tag prefixes Airflow never sends (``[metrics] statsd_disabled_tags``): see airflow_statsd_env.
DISABLED_TAGS = "job_id,run_id,kwargs,result"
log = logging.getLogger("ml_platform.metrics.exporter")


def airflow_statsd_env(statsd_port: int) -> dict[str, str]:
    """Airflow's ``[metrics]`` settings that send its StatsD to the exporter on loopback, tags influx-style.

    Legacy names are off: they put ids into the metric's name (``dagrun.duration.success.<dag_id>``), one series
    name per DAG; the tagged names carry them as labels. Tags that name one run stay off, since one series per run
    would grow without bound: ``job_id`` and ``run_id`` (Airflow's default ``statsd_disabled_tags``; patterns found
    anywhere in a tag's name, so ``dagrun_id`` too). So do a deadline callback's ``kwargs`` and ``result`` (the
    notifier's arguments and answer): Airflow logs an error line for each such tag holding a comma, and one that
    holds none would become a label per message text.
    """
    return {"AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd_port), "AIRFLOW__METRICS__STATSD_PREFIX": "airflow",
            "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED": "True", "AIRFLOW__METRICS__LEGACY_NAMES_ON": "False",
            "AIRFLOW__METRICS__STATSD_DISABLED_TAGS": DISABLED_TAGS}


def exporter_argv(port: int, statsd_port: int, endpoints: dict[str, str]) -> list[str]:
    """Command line of the exporter: ``/metrics`` on ``port``, StatsD on ``statsd_port``, model ``endpoints``."""
    return [sys.executable, "-m", "ml_platform.metrics.exporter", "--port", str(port), "--statsd-port",
            str(statsd_port), *(f"--serving={name}={url}" for name, url in sorted(endpoints.items()))]


def build_registry(statsd: StatsdCollector, database_url: str | None,
                   endpoints: dict[str, str]) -> CollectorRegistry:
    """A registry of the exporter's collectors (the platform database's only when a URL is given)."""
    registry = CollectorRegistry()
    registry.register(statsd)
    registry.register(ModelServerCollector(endpoints))
    if database_url:
        registry.register(PlatformDatabaseCollector(database_url))
    return registry


def parse_endpoints(values: list[str]) -> dict[str, str]:
    """``NAME=URL`` arguments as a dict; ``ValueError`` naming a malformed one."""
    endpoints = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url.startswith("http"):
            raise ValueError(f"--serving {value!r}: expected NAME=http://host:port")
        endpoints[name] = url.rstrip("/")
    return endpoints


def main(argv: list[str] | None = None) -> int:
    """Listen for StatsD, serve ``/metrics``, run until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="address of /metrics and of the StatsD listener")
    parser.add_argument("--port", type=int, required=True, help="HTTP port of /metrics")
    parser.add_argument("--statsd-port", type=int, required=True, help="UDP port Airflow sends StatsD to")
    parser.add_argument("--serving", action="append", default=[], metavar="NAME=URL",
                        help="a model endpoint whose /metrics to re-expose (repeat per endpoint)")
    args = parser.parse_args(argv)
    configure_logging(NAMED_FORMAT)
    statsd = StatsdCollector()
    database_url = os.environ.get(DATABASE_URL_ENV)
    endpoints = parse_endpoints(args.serving)
    StatsdListener(statsd, args.host, args.statsd_port).start()
    server, thread = start_http_server(args.port, addr=args.host,
                                       registry=build_registry(statsd, database_url, endpoints))
    log.info("metrics on http://%s:%d/metrics; StatsD on udp://%s:%d; model endpoints %s; platform database %s",
             args.host, args.port, args.host, args.statsd_port, sorted(endpoints) or "none",
             "on" if database_url else f"off ({DATABASE_URL_ENV} unset)")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    server.shutdown()
    thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
