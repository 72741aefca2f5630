"""A model server's Prometheus metrics: requests by path and status code, their latency, rows scored, the model.

``install_metrics(app, server, writer)`` times every request in a middleware and adds ``GET /metrics``. The
platform's exporter reads it at each scrape and adds the endpoint's name (``ml_platform.metrics.model_servers``);
a team that runs servers behind its own load balancer can scrape each replica's ``/metrics`` directly.

Series (each with ``model``): ``ml_serving_requests_total{path, code}``,
``ml_serving_request_duration_seconds{path}`` (histogram), ``ml_serving_scored_rows_total``,
``ml_serving_model_info{version}`` (1 for the version served), ``ml_serving_model_loaded``,
``ml_serving_prediction_log_rows{state}`` (written, buffered, spilled, dropped).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

if TYPE_CHECKING:
    from ml_pipeline.deployment.serving import ModelServer
    from ml_pipeline.monitoring.prediction_log import PredictionLogWriter

# Seconds: a one-row request takes milliseconds; a 10,000-row batch a second or more.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PATHS = ("/predict", "/health", "/version", "/admin/reload")  # others are counted as "other": bounded labels
LOG_STATES = ("written", "buffered", "spilled", "dropped")


class ServingMetrics:
    """The series of one model server, in a registry of their own (no process or GC series)."""

    def __init__(self, server: ModelServer, writer: PredictionLogWriter | None = None) -> None:
        """Count for ``server`` (its model name labels every series) and report ``writer``'s counters."""
        self.server, self.writer = server, writer
        self.registry = CollectorRegistry()
        self.requests = Counter("ml_serving_requests", "Requests answered, by path and HTTP status code",
                                ["model", "path", "code"], registry=self.registry)
        self.latency = Histogram("ml_serving_request_duration_seconds", "Time to answer a request, by path",
                                 ["model", "path"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rows = Counter("ml_serving_scored_rows", "Rows scored by /predict", ["model"], registry=self.registry)
        self.registry.register(_ModelCollector(self))

    def observe(self, path: str, code: int, seconds: float) -> None:
        """Count one answered request and its duration."""
        path = path if path in PATHS else "other"
        self.requests.labels(self.server.name, path, str(code)).inc()
        self.latency.labels(self.server.name, path).observe(seconds)

    def scored(self, rows: int) -> None:
        """Count rows scored by one ``/predict``."""
        self.rows.labels(self.server.name).inc(rows)

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)


class _ModelCollector:
    """The version served and the prediction log's counters, read at scrape time."""

    def __init__(self, metrics: ServingMetrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        server, writer = self.metrics.server, self.metrics.writer
        model = server.current
        info = GaugeMetricFamily("ml_serving_model_info", "The model version being served (1)",
                                 labels=["model", "version"])
        loaded = GaugeMetricFamily("ml_serving_model_loaded", "Whether a model is loaded and served (1)",
                                   labels=["model"])
        if model is not None:
            info.add_metric([server.name, model.version], 1.0)
        loaded.add_metric([server.name], 0.0 if model is None else 1.0)
        yield info
        yield loaded
        if writer is not None:
            stats = writer.stats()
            rows = GaugeMetricFamily("ml_serving_prediction_log_rows", "Prediction-log rows by state",
                                     labels=["model", "state"])
            for state in LOG_STATES:
                rows.add_metric([server.name, state], float(stats.get(f"{state}_rows", 0)))
            yield rows


def install_metrics(app: Any, server: ModelServer, writer: PredictionLogWriter | None = None) -> ServingMetrics:
    """Time every request of ``app`` (a FastAPI app) and serve ``GET /metrics``; return the metrics."""
    from fastapi.responses import Response

    metrics = ServingMetrics(server, writer)

    @app.middleware("http")
    async def count_requests(request, call_next):
        if request.url.path == "/metrics":
            return await call_next(request)
        started = time.perf_counter()
        code = 500  # an exception that escapes the app is answered 500
        try:
            response = await call_next(request)
            code = response.status_code
            return response
        finally:
            metrics.observe(request.url.path, code, time.perf_counter() - started)

    @app.get("/metrics", include_in_schema=False)
    def prometheus_metrics():
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return metrics
