"""Gauges from the platform database, computed when Prometheus scrapes: drift, live metrics, dead letters, health.

Each scrape reads the newest ``model_monitoring`` check of every model (its status; the drift scores and live
metrics of its newest judged check), the pending dead letters, and the newest ``platform_health`` finding of
every (check, subject). A table that does not exist yet (an older platform) or a database that does not answer
costs only its own series: ``ml_platform_db_up`` says whether the database answered.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from ml_pipeline.failures.dead_letters import PENDING, dead_letters
from ml_pipeline.monitoring.history import ALERT, ERROR, SKIPPED, STABLE, WARN, model_monitoring
from ml_pipeline.platform_health.store import platform_health
from ml_pipeline.stores.sql import create_engine

log = logging.getLogger(__name__)
MONITORING_STATES = (STABLE, WARN, ALERT, SKIPPED, ERROR)
LEVELS = {"ok": 0, STABLE: 0, WARN: 1, ALERT: 2}  # a status as a number: alert rules compare it


class PlatformDatabaseCollector:
    """A custom Prometheus collector over the platform database (``ml_platform``)."""

    def __init__(self, database: str | sa.URL | sa.Engine) -> None:
        """Open (lazily) the database at ``database``: a SQLAlchemy URL or engine."""
        self.engine = database if isinstance(database, sa.Engine) else create_engine(database)

    def collect(self) -> Iterator[Metric]:
        """Every gauge, read now; a section whose table or database fails is left out."""
        up = GaugeMetricFamily("ml_platform_db_up", "Whether the exporter could read the platform database")
        ok = True
        for section in (self._monitoring, self._dead_letters, self._health):
            try:
                with self.engine.connect() as conn:
                    yield from section(conn)
            except sa.exc.ProgrammingError as exc:  # PostgreSQL: a table that does not exist yet
                log.info("metrics from the platform database: %s", str(exc).splitlines()[0])
            except (sa.exc.SQLAlchemyError, ValueError) as exc:  # unreachable, pool timeout, a row that won't decode:
                ok = ok and "no such table" in str(exc)  # this section's series are lost, never the whole scrape
                log.warning("metrics from the platform database: %s", (str(exc).splitlines() or [""])[0])
        up.add_metric([], 1.0 if ok else 0.0)
        yield up

    def _monitoring(self, conn: sa.Connection) -> Iterator[Metric]:
        table = model_monitoring
        newest = _newest_per(conn, table, [table.c.model])
        judged = _newest_per(conn, table, [table.c.model], table.c.status.not_in((SKIPPED, ERROR)))
        state = GaugeMetricFamily("ml_model_monitoring_status", "Status of the newest monitoring check (1: it)",
                                  labels=["model", "status"])
        checked = GaugeMetricFamily("ml_model_monitoring_last_check_timestamp_seconds",
                                    "When the newest monitoring check of the model was recorded", labels=["model"])
        for row in newest:
            for status in MONITORING_STATES:
                state.add_metric([row["model"], status], 1.0 if row["status"] == status else 0.0)
            checked.add_metric([row["model"]], _epoch(row["created_at"]))
        yield state
        yield checked
        yield from _drift_families(judged)

    def _dead_letters(self, conn: sa.Connection) -> Iterator[Metric]:
        query = (sa.select(dead_letters.c.model, dead_letters.c.dag_id, sa.func.count())
                 .where(dead_letters.c.status == PENDING).group_by(dead_letters.c.model, dead_letters.c.dag_id))
        pending = GaugeMetricFamily("ml_dead_letters_pending", "Dead letters waiting for a replay or a discard",
                                    labels=["model", "dag_id"])
        for model, dag_id, count in conn.execute(query):
            pending.add_metric([model or "", dag_id], float(count))
        yield pending

    def _health(self, conn: sa.Connection) -> Iterator[Metric]:
        table = platform_health
        rows = _newest_per(conn, table, [table.c.check, table.c.subject])
        labels = ["check", "subject", "model"]
        status = GaugeMetricFamily("ml_platform_health_status", "Newest platform health finding: 0 ok, 1 warn, "
                                   "2 alert", labels=labels)
        value = GaugeMetricFamily("ml_platform_health_value", "The figure the newest finding measured",
                                  labels=labels)
        threshold = GaugeMetricFamily("ml_platform_health_threshold", "The threshold the finding was judged on",
                                      labels=labels)
        checked = GaugeMetricFamily("ml_platform_health_checked_timestamp_seconds", "When the finding was made",
                                    labels=labels)
        for row in rows:
            key = [row["check"], row["subject"], row["model"] or ""]
            status.add_metric(key, float(LEVELS.get(row["status"], 2)))
            checked.add_metric(key, _epoch(row["checked_at"]))
            for family, column in ((value, "value"), (threshold, "threshold")):
                if row[column] is not None:
                    family.add_metric(key, float(row[column]))
        yield from (status, value, threshold, checked)


def _epoch(moment: dt.datetime) -> float:
    """Seconds since the epoch; a naive time (SQLite keeps no zone) is UTC, as the stores write it."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _newest_per(conn: sa.Connection, table: Any, keys: list, where: Any = None) -> list[dict[str, Any]]:
    """The newest row (highest id) of each group of ``keys`` among the rows ``where`` selects (all: None)."""
    ids = sa.select(sa.func.max(table.c.id)).where(sa.true() if where is None else where).group_by(*keys)
    ids = ids.scalar_subquery()
    return [dict(row) for row in conn.execute(sa.select(table).where(table.c.id.in_(ids))).mappings()]


def _drift_families(rows: list[dict[str, Any]]) -> Iterator[Metric]:
    """Per model's newest judged check: each feature's drift score and status, the drift share, live metrics."""
    score = GaugeMetricFamily("ml_model_feature_drift_score", "Drift score of a feature in the newest judged check",
                              labels=["model", "version", "feature", "method"])
    level = GaugeMetricFamily("ml_model_feature_drift_status", "A feature's drift: 0 stable, 1 warn, 2 alert",
                              labels=["model", "version", "feature"])
    share = GaugeMetricFamily("ml_model_drift_share", "Share of the features that drifted",
                              labels=["model", "version"])
    drifted = GaugeMetricFamily("ml_model_drifted", "Whether the newest judged check found drift (1)",
                                labels=["model", "version"])
    auc = GaugeMetricFamily("ml_model_live_auc", "AUC of the served scores on labels that landed later",
                            labels=["model", "version"])
    decayed = GaugeMetricFamily("ml_model_live_decayed", "Whether the live AUC is under its floor (1)",
                                labels=["model", "version"])
    for row in rows:
        model, version = row["model"], row["version"] or ""
        for feature, verdict in sorted(json.loads(row["features"] or "{}").items()):
            if verdict.get("score") is not None:
                score.add_metric([model, version, feature, verdict.get("method", "")], float(verdict["score"]))
            level.add_metric([model, version, feature], float(LEVELS.get(verdict.get("status"), 0)))
        if row["drift_share"] is not None:
            share.add_metric([model, version], float(row["drift_share"]))
        drifted.add_metric([model, version], float(bool(row["drifted"])))
        decayed.add_metric([model, version], float(bool(row["decayed"])))
        live = json.loads(row["live"] or "{}")
        if live.get("auc") is not None:
            auc.add_metric([model, version], float(live["auc"]))
    yield from (score, level, share, drifted, auc, decayed)
