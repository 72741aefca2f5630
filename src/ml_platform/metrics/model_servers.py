"""The model servers' own metrics, read from each server's ``/metrics`` at scrape time and labelled by endpoint.

Each server counts its requests and times them (``ml_pipeline.deployment.serving_metrics``); the exporter adds
``endpoint="<name>"`` to every series and says whether the server answered (``ml_serving_up``), so one scrape
target carries the whole platform and "endpoint down" is a series, not a missing target.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

log = logging.getLogger(__name__)
TIMEOUT_S = 3.0


class ModelServerCollector:
    """A custom Prometheus collector over the model servers' ``/metrics`` (endpoint name → base URL)."""

    def __init__(self, endpoints: dict[str, str], timeout: float = TIMEOUT_S) -> None:
        """Read ``endpoints`` (name → ``http://host:port``), giving each ``timeout`` seconds."""
        self.endpoints = dict(sorted(endpoints.items()))
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        """Every server's families with its ``endpoint`` label, and ``ml_serving_up`` per endpoint."""
        up = GaugeMetricFamily("ml_serving_up", "Whether the model server answered its /metrics (1) at this scrape",
                               labels=["endpoint", "url"])
        merged: dict[str, Metric] = {}
        if self.endpoints:
            with ThreadPoolExecutor(max_workers=min(8, len(self.endpoints))) as pool:
                texts = list(pool.map(self._read, self.endpoints.values()))
            for (endpoint, url), text in zip(self.endpoints.items(), texts, strict=True):
                up.add_metric([endpoint, url], 0.0 if text is None else 1.0)
                if text is not None:
                    _merge(merged, endpoint, text)
        yield from merged.values()
        yield up

    def _read(self, url: str) -> str | None:
        try:
            response = httpx.get(f"{url}/metrics", timeout=self.timeout)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            log.info("model server %s did not answer /metrics: %s", url, exc)
            return None
        return response.text


def _merge(merged: dict[str, Metric], endpoint: str, text: str) -> None:
    """Add one server's families to ``merged`` (one family per name across servers), labelled by ``endpoint``."""
    try:
        families = list(text_string_to_metric_families(text))
    except ValueError as exc:
        log.warning("model server of endpoint %s sent unreadable metrics: %s", endpoint, exc)
        return
    for family in families:
        if family.name.endswith("_created"):  # prometheus_client's creation times: not worth a series each
            continue
        target = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type, family.unit))
        if target.type != family.type:
            continue
        for sample in family.samples:
            target.add_sample(sample.name, {**sample.labels, "endpoint": endpoint}, sample.value, sample.timestamp)
