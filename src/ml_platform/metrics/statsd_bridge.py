"""Airflow's StatsD, bridged to Prometheus: a UDP listener and the series it keeps.

Airflow (``[metrics] statsd_on`` with ``statsd_influxdb_enabled``) sends lines such as
``airflow.dagrun.duration.success,dag_id=fraud,run_type=manual:1843.2|ms``: a dotted name, influx-style tags, a
value and a type. Each becomes a Prometheus series named after the dotted name (dots and dashes as underscores),
its tags as labels: a counter (``|c``) ``<name>_total``, a gauge (``|g``) ``<name>``, a timer (``|ms``, ``|h``)
a histogram ``<name>_seconds`` (milliseconds turned into seconds). Sets (``|s``) are not used by Airflow and are
dropped. Legacy names (``legacy_names_on``) are turned off by the platform: they put ids inside the name.
"""

from __future__ import annotations

import logging
import math
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client.metrics_core import Metric

log = logging.getLogger(__name__)
# Seconds: a scheduler loop (milliseconds) up to a training run (an hour and more).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
           3600.0, 7200.0, math.inf)
# A bound on label combinations, so a tag that carries an id (run_id, job_id) cannot exhaust memory.
MAX_SERIES = 20_000
KINDS = {"c": "counter", "g": "gauge", "ms": "histogram", "h": "histogram"}
_INVALID = re.compile(r"[^a-zA-Z0-9_]")


class StatsdLineError(ValueError):
    """A line that is not StatsD (names the line and what is wrong with it)."""


@dataclass(frozen=True)
class StatsdSample:
    """One StatsD line: metric name, tags, value, kind (``counter``, ``gauge``, ``histogram``), sample rate."""

    name: str
    tags: dict[str, str]
    value: float
    kind: str
    rate: float = 1.0
    delta: bool = False  # a gauge line with an explicit sign (``+3|g``) adds to the gauge


def prometheus_name(dotted: str) -> str:
    """A StatsD name as a Prometheus name: ``airflow.ti.finish`` → ``airflow_ti_finish``."""
    name = _INVALID.sub("_", dotted)
    return f"_{name}" if name[:1].isdigit() else name


def parse_line(line: str) -> StatsdSample:
    """Parse one StatsD line, influx tags in the name (``name,k=v:1|c``) or DogStatsD tags (``|#k:v``).

    Raises:
        StatsdLineError: The line has no value or type, an unknown type, or a value that is not a number.
    """
    head, sep, rest = line.strip().partition(":")
    fields = rest.split("|")
    if not sep or len(fields) < 2 or not head:
        raise StatsdLineError(f"not a StatsD line (name:value|type): {line!r}")
    name, *pairs = head.split(",")
    tags = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
    raw, kind, rate = fields[0], fields[1], 1.0
    if kind not in KINDS:
        raise StatsdLineError(f"unsupported StatsD type {kind!r} in {line!r} (c, g, ms, h)")
    for extra in fields[2:]:
        if extra.startswith("@"):
            rate = float(extra[1:]) or 1.0
        elif extra.startswith("#"):
            tags.update(tag.split(":", 1) for tag in extra[1:].split(",") if ":" in tag)
    try:
        value = float(raw)
    except ValueError:
        raise StatsdLineError(f"value {raw!r} is not a number in {line!r}") from None
    return StatsdSample(name, tags, value, KINDS[kind], rate, delta=kind == "g" and raw[:1] in "+-")


@dataclass
class _Series:
    kind: str
    values: dict[tuple[tuple[str, str], ...], list[float]] = field(default_factory=dict)


class StatsdCollector:
    """The series received so far, exposed to a Prometheus registry (a custom collector)."""

    def __init__(self, max_series: int = MAX_SERIES) -> None:
        """Start empty; keep at most ``max_series`` label combinations in all."""
        self.max_series = max_series
        self._series: dict[str, _Series] = {}
        self._count = 0
        self._lock = threading.Lock()
        self.lines = {"parsed": 0, "invalid": 0, "dropped": 0}

    def receive(self, packet: str) -> None:
        """Apply every line of one packet (StatsD clients batch lines with newlines)."""
        for line in filter(None, (part.strip() for part in packet.splitlines())):
            try:
                self.apply(parse_line(line))
            except ValueError as exc:  # StatsdLineError, or a sample rate that is not a number
                self.lines["invalid"] += 1
                log.debug("%s", exc)

    def apply(self, sample: StatsdSample) -> None:
        """Add one sample to its series (new series beyond ``max_series``, or with a clashing type, are dropped)."""
        name = prometheus_name(sample.name)
        labels = tuple(sorted((_label(k), v) for k, v in sample.tags.items()))
        with self._lock:
            series = self._series.setdefault(name, _Series(sample.kind))
            values = series.values.get(labels)
            if series.kind != sample.kind or (values is None and self._count >= self.max_series):
                self.lines["dropped"] += 1
                return
            if values is None:
                values = series.values[labels] = [0.0] * (len(BUCKETS) + 2 if sample.kind == "histogram" else 1)
                self._count += 1
            self.lines["parsed"] += 1
            if sample.kind == "counter":
                values[0] += sample.value / sample.rate
            elif sample.kind == "gauge":
                values[0] = values[0] + sample.value if sample.delta else sample.value
            else:
                _observe(values, sample.value / 1000.0, 1.0 / sample.rate)

    def collect(self) -> Iterator[Metric]:
        """The series as Prometheus metric families, and the bridge's own line counters."""
        with self._lock:
            snapshot = {name: (s.kind, {k: list(v) for k, v in s.values.items()}) for name, s in self._series.items()}
        for name, (kind, values) in sorted(snapshot.items()):
            yield _family(name, kind, values)
        lines = Metric("ml_statsd_lines", "StatsD lines received by the bridge, by outcome", "counter")
        for outcome, count in self.lines.items():
            lines.add_sample("ml_statsd_lines_total", {"outcome": outcome}, count)
        yield lines


def _label(key: str) -> str:
    name = prometheus_name(key)
    return f"tag_{name}" if name in ("le", "quantile") or name.startswith("__") else name


def _observe(values: list[float], seconds: float, weight: float) -> None:
    """Histogram ``values``: per-bucket counts (not cumulative), then sum, then count."""
    for i, bound in enumerate(BUCKETS):
        if seconds <= bound:
            values[i] += weight
            break
    values[-2] += seconds * weight
    values[-1] += weight


def _family(name: str, kind: str, values: dict[tuple[tuple[str, str], ...], list[float]]) -> Metric:
    """One metric family in Prometheus form (histogram buckets made cumulative)."""
    if kind == "histogram":
        family = Metric(f"{name}_seconds", f"Airflow StatsD timer {name}, in seconds", "histogram")
        for labels, counts in values.items():
            cumulative = 0.0
            for bound, count in zip(BUCKETS, counts, strict=False):
                cumulative += count
                le = "+Inf" if math.isinf(bound) else repr(bound)
                family.add_sample(f"{name}_seconds_bucket", {**dict(labels), "le": le}, cumulative)
            family.add_sample(f"{name}_seconds_sum", dict(labels), counts[-2])
            family.add_sample(f"{name}_seconds_count", dict(labels), counts[-1])
        return family
    family = Metric(name, f"Airflow StatsD {kind} {name}", kind)
    for labels, (value, *_) in values.items():
        family.add_sample(f"{name}_total" if kind == "counter" else name, dict(labels), value)
    return family


class StatsdListener(threading.Thread):
    """A daemon thread that reads StatsD packets from a UDP socket into a ``StatsdCollector``."""

    def __init__(self, collector: StatsdCollector, host: str, port: int) -> None:
        """Bind the socket now, so that a taken port fails at start rather than in the thread."""
        super().__init__(name="statsd-listener", daemon=True)
        self.collector = collector
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((host, port))

    def run(self) -> None:
        """Receive forever (ends with the process)."""
        while True:
            packet, _ = self.sock.recvfrom(65535)
            try:
                self.collector.receive(packet.decode("utf-8", errors="replace"))
            except Exception:  # one bad packet must not stop the bridge
                log.exception("cannot apply a StatsD packet")
