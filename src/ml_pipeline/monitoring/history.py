"""The monitoring time series: one row per check of a model's champion, kept in the platform database.

A row says what was judged (model, version, window), how (per-feature method, score and status; the share of
drifted features; prediction and target drift; live metrics) and what followed (alert, retraining requested or
held back by the cooldown). Rows are only ever added: ``ml-pipeline monitor`` and the platform's dashboard read the
trend from them, and the cooldown between retrainings is decided from them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ml_pipeline.stores.sql import SqlStore, StoredRecord, metadata

model_monitoring = sa.Table(
    "model_monitoring", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("version", sa.String(20)),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("window_start", sa.DateTime(timezone=True)),
    sa.Column("window_end", sa.DateTime(timezone=True)),
    sa.Column("window_fingerprint", sa.String(64)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("rows", sa.Integer),
    sa.Column("drift_share", sa.Float),
    sa.Column("drifted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("decayed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("retrain_cause", sa.String(20)),
    sa.Column("retrain_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("report_uri", sa.Text),
    sa.Column("features", sa.Text, nullable=False, server_default="{}"),
    sa.Column("predictions", sa.Text, nullable=False, server_default="{}"),
    sa.Column("target", sa.Text, nullable=False, server_default="{}"),
    sa.Column("live", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_model_monitoring_model_created_at", "model", "created_at"),  # one model's checks since a time
)
STABLE, WARN, ALERT, SKIPPED, ERROR = "stable", "warn", "alert", "skipped", "error"


@dataclass(frozen=True)
class MonitoringCheck(StoredRecord):
    """One check of one model's champion over one window of data."""

    model: str
    status: str
    reason: str
    version: str | None = None
    dag_id: str | None = None
    run_id: str | None = None
    window_start: dt.datetime | None = None
    window_end: dt.datetime | None = None
    window_fingerprint: str | None = None
    rows: int | None = None
    drift_share: float | None = None
    drifted: bool = False
    decayed: bool = False
    retrain_cause: str | None = None
    retrain_requested: bool = False
    report_uri: str | None = None
    features: dict[str, Any] = field(default_factory=dict)
    predictions: dict[str, Any] = field(default_factory=dict)
    target: dict[str, Any] = field(default_factory=dict)
    live: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: dt.datetime | None = None


class MonitoringHistory(SqlStore[MonitoringCheck]):
    """The checks, in the platform database (``ml_platform``); its table is made by ``create_schema``."""

    table = model_monitoring
    record_type = MonitoringCheck
    json_columns = ("features", "predictions", "target", "live")

    def record(self, check: MonitoringCheck) -> MonitoringCheck:
        """Append a check; the same DAG run records its check once (task retries)."""
        with self.connect(write=True) as conn:
            key = ("model", "run_id") if check.run_id else ()
            return self.fetch(conn, self.insert_once(conn, check, key))

    def checks(self, model: str, limit: int = 50) -> list[MonitoringCheck]:
        """A model's newest ``limit`` checks, oldest first."""
        query = (sa.select(model_monitoring).where(model_monitoring.c.model == model)
                 .order_by(model_monitoring.c.id.desc()).limit(limit))
        with self.connect() as conn:
            return [self.from_row(row) for row in reversed(conn.execute(query).mappings().all())]

    def last_retrain_request(self, model: str) -> MonitoringCheck | None:
        """The newest check that requested a retraining of ``model``, or None."""
        query = (sa.select(model_monitoring).where(model_monitoring.c.model == model,
                                                   model_monitoring.c.retrain_requested.is_(True))
                 .order_by(model_monitoring.c.id.desc()).limit(1))
        with self.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else self.from_row(row)

    def last_judged(self, model: str, version: str) -> MonitoringCheck | None:
        """The newest check of ``version`` that judged data (not skipped, not failed), or None."""
        query = (sa.select(model_monitoring).where(model_monitoring.c.model == model,
                                                   model_monitoring.c.version == version,
                                                   model_monitoring.c.status.not_in((SKIPPED, ERROR)))
                 .order_by(model_monitoring.c.id.desc()).limit(1))
        with self.connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else self.from_row(row)
