"""The OpenLineage events the platform received, in its database (``lineage_events``), and the file transport's.

The lineage shipper (``shipper.py``) stores what the tasks append to the file transport's ``events.jsonl``; the
receiver (``ml_pipeline_airflow.lineage.receiver``) stores what an HTTP transport posts (Compose, Helm); the graph
(``graph.py``) reads them back. An event is kept as the JSON it came as, with the columns a query filters on.
A re-sent event (a retried post, a file read again from an older offset) is stored once: its digest is unique.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ml_pipeline.stores.sql import SqlStore, metadata

log = logging.getLogger(__name__)

lineage_events = sa.Table(
    "lineage_events", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("event_type", sa.String(20), nullable=False),
    sa.Column("job_namespace", sa.String(250), nullable=False),
    sa.Column("job_name", sa.String(500), nullable=False, index=True),
    sa.Column("run_id", sa.String(64), nullable=False, index=True),
    sa.Column("datasets", sa.Integer, nullable=False, server_default="0"),  # inputs + outputs: events() skips 0
    sa.Column("digest", sa.String(64), nullable=False, unique=True),  # sha256 of the canonical JSON
    sa.Column("event", sa.Text, nullable=False),
)


class LineageStore(SqlStore[dict]):
    """OpenLineage run events in the platform database; the table is made by ``create_schema``."""

    table = lineage_events
    record_type = dict

    def add(self, event: dict[str, Any]) -> int:
        """Store one run event (``eventType``, ``eventTime``, ``run.runId``, ``job`` required); return its row id.

        The same event sent again is stored once (the first row's id is returned).

        Raises:
            ValueError: ``event`` is not an OpenLineage run event.
        """
        row = event_row(event)
        with self.connect(write=True) as conn:
            existing = conn.execute(sa.select(self.table.c.id).where(self.table.c.digest == row["digest"])).scalar()
            if existing is not None:
                return existing
            try:
                with conn.begin_nested():
                    return conn.execute(self.table.insert().values(**row).returning(self.table.c.id)).scalar_one()
            except sa.exc.IntegrityError:  # the same event, posted twice at once
                return conn.execute(sa.select(self.table.c.id).where(self.table.c.digest == row["digest"])).scalar_one()

    def add_many(self, events: list[dict[str, Any]]) -> int:
        """Store run events in one transaction (each validated first, as ``add`` does); return how many were new.

        An event already stored, or given twice, is stored once (``ON CONFLICT (digest) DO NOTHING``).

        Raises:
            ValueError: One of ``events`` is not an OpenLineage run event (nothing is stored).
        """
        rows = list({row["digest"]: row for row in map(event_row, events)}.values())
        if not rows:
            return 0
        statement = postgresql.insert(self.table).on_conflict_do_nothing(index_elements=["digest"])
        with self.connect(write=True) as conn:
            return len(conn.execute(statement.returning(self.table.c.id), rows).all())

    def events(self, job_names: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        """The events of every run that named inputs or outputs (also its START and COMPLETE/FAIL), oldest first.

        Runs without datasets (a notification, a sensor) are left out. ``job_names``: only jobs whose name starts
        with one of these (``<dag_id>.``), e.g. one model's DAGs.
        """
        c = self.table.c
        with_data = sa.select(c.run_id).where(c.datasets > 0)
        if job_names:
            with_data = with_data.where(sa.or_(*(c.job_name.startswith(name, autoescape=True) for name in job_names)))
        query = sa.select(c.event).where(c.run_id.in_(with_data)).order_by(c.event_time, c.id)
        with self.connect() as conn:
            return [json.loads(text) for text in conn.execute(query).scalars()]

    def count(self) -> int:
        """How many events are stored (with or without datasets)."""
        with self.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one()


def event_row(event: Any) -> dict[str, Any]:
    """The columns of one OpenLineage run event.

    Raises:
        ValueError: What is missing or malformed, named (``eventType``, ``eventTime``, ``run.runId``, ``job.name``).
    """
    if not isinstance(event, dict):
        raise ValueError(f"an OpenLineage run event is a JSON object, not {type(event).__name__}")
    run, job = event.get("run"), event.get("job")
    missing = [name for name, value in (("eventType", event.get("eventType")), ("eventTime", event.get("eventTime")),
                                        ("run.runId", isinstance(run, dict) and run.get("runId")),
                                        ("job.namespace", isinstance(job, dict) and job.get("namespace")),
                                        ("job.name", isinstance(job, dict) and job.get("name"))) if not value]
    if missing:
        raise ValueError(f"not an OpenLineage run event: missing {', '.join(missing)}")
    try:
        event_time = dt.datetime.fromisoformat(str(event["eventTime"]).replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"eventTime {event['eventTime']!r} is not an ISO 8601 time") from exc
    if event_time.tzinfo is None:
        event_time = event_time.replace(tzinfo=dt.UTC)
    columns = {"eventType": (event["eventType"], 20), "job.namespace": (job["namespace"], 250),
               "job.name": (job["name"], 500)}
    too_long = [f"{name} ({len(str(value))} > {limit} characters)" if len(str(value)) > limit
                else f"{name} holds a NUL character" for name, (value, limit) in columns.items()
                if len(str(value)) > limit or "\x00" in str(value)]  # the database would refuse every batch with it
    sides = {name: event.get(name) or [] for name in ("inputs", "outputs")}
    lists = [f"{name} is no list" if not isinstance(items, list) else f"{name} holds an item that is no object"
             for name, items in sides.items()
             if not isinstance(items, list) or not all(isinstance(item, dict) for item in items)]
    if too_long or lists:
        raise ValueError(f"not an OpenLineage run event: {', '.join(too_long + lists)}")
    text = json.dumps(event, sort_keys=True, separators=(",", ":"))
    return {"received_at": dt.datetime.now(dt.UTC), "event_time": event_time, "event_type": str(event["eventType"]),
            "job_namespace": str(job["namespace"]), "job_name": str(job["name"]), "run_id": str(run["runId"])[:64],
            "datasets": len(event.get("inputs") or []) + len(event.get("outputs") or []),
            "digest": hashlib.sha256(text.encode()).hexdigest(), "event": text}


def read_event_file(path: str | Path) -> list[dict[str, Any]]:
    """The events of a JSON-lines file (the file transport's), in file order.

    A line that is not UTF-8 text, not JSON, or not an OpenLineage run event (``event_row``'s checks) is skipped with
    a warning naming the file and line, as the store refuses it.
    """
    events = []
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                log.warning("%s:%d: not UTF-8 text, skipped (%s)", path, number, exc)
                continue
            if not line.strip():
                continue
            try:
                event = json.loads(line)
                event_row(event)
            except ValueError as exc:  # json.JSONDecodeError is one
                log.warning("%s:%d: %s, skipped", path, number,
                            f"not JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else exc)
                continue
            events.append(event)
    return events
