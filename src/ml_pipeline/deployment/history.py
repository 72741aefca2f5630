"""Promotion history: every promotion, rejection and rollback of every model, kept in PostgreSQL.

The registry's aliases say what serves *now*; this log says what served *when*, and why it changed: the gate's
numbers for a promotion, the failure for a rollback, and the DAG run that did it. Rows are only ever added.
The same facts are tagged on the model versions in MLflow (``deployment.*``) for whoever starts from there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ml_pipeline.stores.sql import SqlStore, StoredRecord, metadata

deployment_events = sa.Table(
    "deployment_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False, index=True),
    sa.Column("action", sa.String(40), nullable=False),
    sa.Column("from_version", sa.String(20)),
    sa.Column("to_version", sa.String(20)),
    sa.Column("dag_id", sa.String(250)),
    sa.Column("run_id", sa.String(250)),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False, server_default="{}"),
)
PROMOTED, REJECTED, CANARY_FAILED, ROLLED_BACK, ROLLBACK_FAILED, WATCH_UNJUDGED = (
    "promoted", "rejected", "canary_failed", "rolled_back", "rollback_failed", "watch_unjudged")


@dataclass(frozen=True)
class DeploymentEvent(StoredRecord):
    """One change (or refused change) of what a model's endpoint serves."""

    model: str
    action: str
    from_version: str | None
    to_version: str | None
    reason: str
    dag_id: str | None = None
    run_id: str | None = None
    details: dict[str, Any] | None = None
    id: int | None = None
    created_at: dt.datetime | None = None


class DeploymentHistory(SqlStore[DeploymentEvent]):
    """The durable log, in the platform database (``ml_platform``); its table is made by ``create_schema``."""

    table = deployment_events
    record_type = DeploymentEvent
    json_columns = ("details",)

    def record(self, event: DeploymentEvent) -> DeploymentEvent:
        """Append an event; the same action by the same DAG run is recorded once (task retries)."""
        with self.connect(write=True) as conn:
            key = ("model", "action", "run_id", "to_version") if event.run_id else ()
            return self.fetch(conn, self.insert_once(conn, event, key))

    def events(self, model: str, limit: int | None = None) -> list[DeploymentEvent]:
        """A model's events, oldest first (the newest ``limit`` when given)."""
        query = sa.select(deployment_events).where(deployment_events.c.model == model).order_by(
            deployment_events.c.id.desc())
        if limit:
            query = query.limit(limit)
        with self.connect() as conn:
            return [self.from_row(row) for row in reversed(conn.execute(query).mappings().all())]

    def champion_before(self, model: str, version: str) -> str | None:
        """The version that was champion when ``version`` was last promoted (to restore ``previous_champion``)."""
        for event in reversed(self.events(model)):
            if event.action in (PROMOTED, ROLLED_BACK) and event.to_version == version:
                return event.from_version
        return None


def describe(events: list[DeploymentEvent]) -> str:
    """A table for ``ml-pipeline deployments MODEL``: when, what, from → to, which run, why."""
    if not events:
        return "no deployments recorded"
    lines = [f"{'when (UTC)':<20} {'action':<16} {'from':>5} → {'to':<5} {'run':<40} why"]
    for e in events:
        when = e.created_at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S") if e.created_at else "?"
        lines.append(f"{when:<20} {e.action:<16} {e.from_version or '-':>5} → {e.to_version or '-':<5} "
                     f"{(e.run_id or '-')[:40]:<40} {e.reason}")
    return "\n".join(lines)
