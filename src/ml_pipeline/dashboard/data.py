"""What the dashboard reads from the platform database: a few bounded queries per page, never a whole table.

Every query is limited in time (``since``) and the long series are thinned in SQL (one point per ``every_hours``)
so that a page costs the same after a year as after a week. ``platform_health`` is written every 30 minutes by
``monitoring_ml_pipelines``; its newest run is found from the newest row, and read as one window of rows.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory, deployment_events
from ml_pipeline.failures.dead_letters import DeadLetterStore
from ml_pipeline.lineage.store import LineageStore
from ml_pipeline.monitoring.history import MonitoringCheck, MonitoringHistory, model_monitoring
from ml_pipeline.platform_health.store import HealthFinding, PlatformHealthStore, platform_health

# The rows of one run of the platform DAG lie within a few minutes of each other; a check that a run could not
# make (a component that did not answer) keeps its previous row, so a run's view reaches back this far.
LATEST_WINDOW = dt.timedelta(hours=1)


class DashboardReader:
    """The platform database as the dashboard reads it (the same engine for every query of a page).

    Args:
        engine: The platform database's engine (``ml_platform``).
    """

    def __init__(self, engine: sa.Engine) -> None:
        """Read through ``engine``; the stores decode rows into their records."""
        self.engine = engine
        self.health = PlatformHealthStore(engine)
        self.monitoring = MonitoringHistory(engine)
        self.deployments = DeploymentHistory(engine)

    def latest_health(self, check: str | None = None) -> list[HealthFinding]:
        """The newest finding of each check (or of ``check``) on each subject, from the newest run's window of rows."""
        return self.health.latest(check, LATEST_WINDOW)

    def health_series(self, check: str, since: dt.datetime, every_hours: int = 1,
                      subjects: Iterable[str] | None = None, model: str | None = None,
                      ) -> dict[str, list[HealthFinding]]:
        """One check's findings per subject since ``since``, oldest first, one per ``every_hours`` (at most)."""
        table = platform_health.c
        query = sa.select(platform_health).where(table.check == check, table.checked_at >= since)
        if every_hours > 1:  # the platform DAG runs at :00 and :30: keep the first run of every n-th hour
            query = query.where(sa.extract("hour", table.checked_at) % every_hours == 0,
                                sa.extract("minute", table.checked_at) < 30)
        if subjects is not None:
            query = query.where(table.subject.in_(list(subjects)))
        if model is not None:
            query = query.where(table.model == model)
        series: dict[str, list[HealthFinding]] = defaultdict(list)
        with self.health.connect() as conn:
            for row in conn.execute(query.order_by(table.id)).mappings():
                series[row["subject"]].append(self.health.from_row(row))
        return dict(series)

    def alerts(self, model: str, since: dt.datetime, limit: int = 20) -> list[HealthFinding]:
        """The model's newest health findings that started or escalated a problem, newest first."""
        table = platform_health.c
        query = (sa.select(platform_health).where(table.model == model, table.checked_at >= since,
                                                  table.transition.in_(("started", "escalated")))
                 .order_by(table.id.desc()).limit(limit))
        with self.health.connect() as conn:
            return [self.health.from_row(row) for row in conn.execute(query).mappings()]

    def checks(self, models: Iterable[str], since: dt.datetime, every_hours: int = 1,
               whole: dt.timedelta = dt.timedelta(hours=6)) -> dict[str, list[MonitoringCheck]]:
        """Each model's monitoring checks since ``since``, oldest first, one per ``every_hours``.

        Every check of the newest ``whole`` is kept, so the newest check is always there.
        """
        table = model_monitoring.c
        query = (sa.select(model_monitoring).where(table.model.in_(list(models)), table.created_at >= since)
                 .order_by(table.id))
        if every_hours > 1:
            newest = sa.select(sa.func.max(table.created_at)).scalar_subquery()
            query = query.where(sa.or_(sa.extract("hour", table.created_at) % every_hours == 0,
                                       table.created_at >= newest - whole))
        checks: dict[str, list[MonitoringCheck]] = defaultdict(list)
        with self.monitoring.connect() as conn:
            for row in conn.execute(query).mappings():
                checks[row["model"]].append(self.monitoring.from_row(row))
        return dict(checks)

    def events(self, models: Iterable[str]) -> dict[str, list[DeploymentEvent]]:
        """Each model's deployment events (promotions, rejections, rollbacks), oldest first."""
        query = (sa.select(deployment_events).where(deployment_events.c.model.in_(list(models)))
                 .order_by(deployment_events.c.id))
        events: dict[str, list[DeploymentEvent]] = defaultdict(list)
        with self.deployments.connect() as conn:
            for row in conn.execute(query).mappings():
                events[row["model"]].append(self.deployments.from_row(row))
        return dict(events)

    def pending_dead_letters(self) -> dict[str, int]:
        """How many dead letters wait per model (``""``: entries of no model)."""
        return {model or "": count for model, count in DeadLetterStore(self.engine).pending_counts().items()}


    def lineage_events(self, dag_ids: tuple[str, ...]) -> list[dict[str, Any]]:
        """The OpenLineage events of the runs with datasets of these DAGs (a model's), oldest first."""
        return LineageStore(self.engine).events(tuple(f"{dag_id}." for dag_id in dag_ids))
