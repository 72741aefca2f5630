"""The ``platform_health`` time series: one row per check and subject per run of ``monitoring_ml_pipelines``.

A row says what was measured (a DAG's failure rate, a component's heartbeat age, an endpoint's served version),
how it was judged (``ok``, ``warn``, ``alert``) and whether that judgement changed since the previous run of the
same check on the same subject (``transition``): alerts go out on transitions only, so a problem that lasts a day
is announced once when it starts and once when it clears, not 48 times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from ml_pipeline.stores.sql import SqlStore, StoredRecord, metadata

platform_health = sa.Table(
    "platform_health", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("run_id", sa.String(250)),
    sa.Column("check", sa.String(40), nullable=False),
    sa.Column("subject", sa.String(250), nullable=False),
    sa.Column("model", sa.String(200), index=True),
    sa.Column("status", sa.String(10), nullable=False),
    sa.Column("value", sa.Float),
    sa.Column("threshold", sa.Float),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("transition", sa.String(12)),
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),
    sa.Index("ix_platform_health_check_subject_id", "check", "subject", "id"),  # the latest row per check, subject
    sa.Index("ix_platform_health_check_checked_at", "check", "checked_at"),  # a check's series since a time
)
OK, WARN, ALERT = "ok", "warn", "alert"
STARTED, ESCALATED, RECOVERED = "started", "escalated", "recovered"
SEVERITY = {OK: 0, WARN: 1, ALERT: 2}


@dataclass(frozen=True)
class HealthFinding(StoredRecord):
    """One judged measurement of one subject (a DAG, a model, an endpoint, a component, the platform)."""

    check: str
    subject: str
    status: str
    message: str
    model: str | None = None
    value: float | None = None
    threshold: float | None = None
    data: dict[str, Any] = field(default_factory=dict)
    run_id: str | None = None
    transition: str | None = None
    id: int | None = None
    checked_at: dt.datetime | None = None

    @property
    def problem(self) -> bool:
        """Whether this finding is a warning or an alert."""
        return self.status != OK


def transition(previous: str | None, current: str) -> str | None:
    """What changed between two statuses of one check on one subject: started, escalated, recovered or nothing.

    A subject seen for the first time that is already in trouble has ``started``; a first ``ok`` is no news.
    """
    before, now = SEVERITY.get(previous or OK, 0), SEVERITY[current]
    if now and not before:
        return STARTED
    if now > before:
        return ESCALATED
    if before and not now:
        return RECOVERED
    return None


def _carried(finding: HealthFinding, previous: HealthFinding | None) -> HealthFinding:
    """A finding whose figures could not be judged this time (``data["judged"]`` false) keeps its previous status.

    Too few runs to judge a rate says nothing about the failures before: it must not announce a recovery.
    """
    if finding.data.get("judged") is False and previous is not None and previous.status != finding.status:
        return replace(finding, status=previous.status,
                       message=f"{finding.message}; still {previous.status} from before")
    return finding


def _no_longer_measured(previous: dict[tuple[str, str], HealthFinding], seen: set[tuple[str, str]],
                        run_id: str | None) -> list[HealthFinding]:
    """An ``ok`` for each problem whose subject this run no longer measures, so that it is closed.

    A removed model, a DAG with no runs left in the window: the problem is announced as recovered and leaves the
    open problems (``latest``, the dashboard, the exporter's gauges) instead of staying open until it is pruned.
    """
    return [replace(old, status=OK, message=f"{old.subject}: no longer measured (was {old.status}: {old.message})",
                    value=None, data={}, run_id=run_id, id=None, checked_at=None, transition=None)
            for key, old in previous.items() if old.status != OK and key not in seen]


class PlatformHealthStore(SqlStore[HealthFinding]):
    """The platform's health checks, in the platform database; its table is made by ``create_schema``."""

    table = platform_health
    record_type = HealthFinding
    json_columns = ("data",)

    def record(self, findings: Iterable[HealthFinding], run_id: str | None = None) -> list[HealthFinding]:
        """Append ``findings`` (one run's), each with its transition from the subject's previous status.

        A retried task records its run's findings once: rows of ``run_id`` for the same checks are returned as they
        are. Returns the stored findings.
        """
        findings = [replace(f, run_id=run_id or f.run_id) for f in findings]
        if not findings:
            return []
        checks = sorted({f.check for f in findings})
        with self.connect(write=True) as conn:
            if run_id:
                done = self._rows(conn, sa.and_(platform_health.c.run_id == run_id,
                                                platform_health.c.check.in_(checks)))
                if done:
                    return done
            previous = {(f.check, f.subject): f for f in self._latest(conn, platform_health.c.check.in_(checks))}
            findings = [_carried(f, previous.get((f.check, f.subject))) for f in findings]
            findings += _no_longer_measured(previous, {(f.check, f.subject) for f in findings}, run_id)
            now = dt.datetime.now(dt.UTC)
            rows = [{**self.to_row(replace(f, transition=transition(
                        getattr(previous.get((f.check, f.subject)), "status", None), f.status))), "checked_at": now}
                    for f in findings]
            ids = conn.execute(platform_health.insert().returning(platform_health.c.id), rows).scalars().all()
            return self._rows(conn, platform_health.c.id.in_(ids))

    def latest(self, check: str | None = None, window: dt.timedelta | None = None) -> list[HealthFinding]:
        """The newest finding of each check (or of ``check``) on each subject, one row each, chosen by the database.

        ``window``: only rows at most that old when the newest row was written (the newest run's, for a page).
        """
        table = platform_health.c
        conditions = [] if check is None else [table.check == check]
        if window is not None:
            conditions.append(table.checked_at >= sa.select(sa.func.max(table.checked_at)).scalar_subquery() - window)
        with self.connect() as conn:
            return self._latest(conn, sa.and_(sa.true(), *conditions))

    def history(self, check: str | None = None, subject: str | None = None, model: str | None = None,
                since: dt.datetime | None = None) -> list[HealthFinding]:
        """Findings matching every filter given, oldest first."""
        table = platform_health.c
        conditions = [column == value for column, value in ((table.check, check), (table.subject, subject),
                                                             (table.model, model)) if value is not None]
        if since is not None:
            conditions.append(table.checked_at >= since)
        with self.connect() as conn:
            return self._rows(conn, sa.and_(sa.true(), *conditions))

    def transitions(self, run_id: str) -> list[HealthFinding]:
        """The findings of one run whose status changed (what to announce)."""
        with self.connect() as conn:
            return self._rows(conn, sa.and_(platform_health.c.run_id == run_id,
                                            platform_health.c.transition.is_not(None)))

    def from_row(self, row: Any) -> HealthFinding:
        """The finding a row holds, its time in UTC (SQLite hands ``DateTime(timezone=True)`` back naive)."""
        finding = super().from_row(row)
        when = finding.checked_at
        return replace(finding, checked_at=when.replace(tzinfo=dt.UTC)) if when and when.tzinfo is None else finding

    def prune(self, before: dt.datetime) -> int:
        """Delete the findings checked before ``before``; return how many."""
        with self.connect(write=True) as conn:
            return conn.execute(platform_health.delete().where(platform_health.c.checked_at < before)).rowcount

    def to_row(self, record: HealthFinding) -> dict[str, Any]:
        """Column values of a new row (``checked_at`` instead of the stores' ``created_at``)."""
        row = super().to_row(record)
        row["checked_at"] = row.pop("created_at")
        return row

    def _latest(self, conn: sa.Connection, condition: Any) -> list[HealthFinding]:
        newest = sa.select(sa.func.max(platform_health.c.id)).group_by(platform_health.c.check,
                                                                        platform_health.c.subject)
        if condition is not None:
            newest = newest.where(condition)
        return self._rows(conn, platform_health.c.id.in_(newest))

    def _rows(self, conn: sa.Connection, condition: Any) -> list[HealthFinding]:
        query = sa.select(platform_health).where(condition).order_by(platform_health.c.id)
        return [self.from_row(row) for row in conn.execute(query).mappings()]
