"""Each page's content, read and shaped: the reader's queries (``data``) turned into views (``views``).

``Models`` tells the pages which models exist (the model configs) and their DAGs; the Airflow glue passes the
newest training runs it got from Airflow's REST API (``last_runs``), since the platform database has no runs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ml_pipeline.config import ModelConfig
from ml_pipeline.dashboard import views
from ml_pipeline.dashboard.data import DashboardReader
from ml_pipeline.lineage import naming
from ml_pipeline.lineage.graph import LineageGraph
from ml_pipeline.lineage.queries import VersionLineage, version_lineage

TREND_DAYS, HISTORY_DAYS = 7, 30


@dataclass(frozen=True)
class Models:
    """The configured models and each one's training DAG id."""

    configs: Mapping[str, ModelConfig]
    training_dags: Mapping[str, str]


def model_rows(reader: DashboardReader, models: Models, last_runs: Mapping[str, views.LastRun],
               now: dt.datetime) -> list[views.ModelRow]:
    """The Models page's rows, one per configured model, in name order."""
    names = sorted(models.configs)
    since = now - dt.timedelta(days=TREND_DAYS)
    endpoints = {f.model: f for f in reader.latest_health("endpoint")}
    training = reader.health_series("run_failures", since, every_hours=6, subjects=models.training_dags.values())
    checks, events = reader.checks(names, since, every_hours=3), reader.events(names)
    dead = reader.pending_dead_letters()
    return [views.model_row(name, training_dag=models.training_dags[name], events=events.get(name, []),
                            checks=checks.get(name, []), training=training.get(models.training_dags[name], []),
                            endpoint=endpoints.get(name), last_run=last_runs.get(models.training_dags[name]),
                            dead_letters=dead.get(name, 0))
            for name in names]


def model_detail(reader: DashboardReader, models: Models, model: str, last_runs: Mapping[str, views.LastRun],
                 now: dt.datetime) -> tuple[views.ModelRow, dict[str, Any]]:
    """A model's row and its page's content: drift and live series, thresholds, deployments, alerts, report."""
    since = now - dt.timedelta(days=HISTORY_DAYS)
    checks = reader.checks([model], since, every_hours=2).get(model, [])
    events = reader.events([model]).get(model, [])
    training_dag = models.training_dags[model]
    training = reader.health_series("run_failures", now - dt.timedelta(days=TREND_DAYS), every_hours=6,
                                    subjects=[training_dag]).get(training_dag, [])
    endpoint = next((f for f in reader.latest_health("endpoint") if f.model == model), None)
    row = views.model_row(model, training_dag=training_dag, events=events, checks=checks, training=training,
                          endpoint=endpoint, last_run=last_runs.get(training_dag),
                          dead_letters=reader.pending_dead_letters().get(model, 0))
    judged = views.judged(checks)
    live = views.live_series(checks)
    floor = next((c.live.get("floor") for c in reversed(judged) if c.live.get("floor") is not None), None)
    return row, {"drift": views.drift_series(checks), "thresholds": thresholds(models.configs[model]),
                 "live": live, "live_floor": {"alert": floor} if floor is not None and live else None,
                 "events": events, "alerts": reader.alerts(model, since),
                 "report": next((c for c in reversed(checks) if c.report_uri), judged[-1] if judged else None)}


def model_lineage(events: list[dict[str, Any]], model: str, champion: str | None) -> VersionLineage | None:
    """The lineage of the model's champion, else of its newest version with lineage; None when none has any."""
    graph = LineageGraph.from_events(events)
    prefix = f"models/{model}/"
    versions = sorted({s.name.removeprefix(prefix) for s in graph.datasets.values()
                       if s.kind == naming.MODEL_VERSION and s.name.startswith(prefix)},
                      key=lambda v: (not v.isdigit(), int(v) if v.isdigit() else 0, v))
    if not versions:
        return None
    chosen = champion if champion in versions else versions[-1]
    try:
        return version_lineage(graph, None, model, chosen)
    except ValueError:  # several tracking servers registered it: the page shows none rather than a guess
        return None


def thresholds(config: ModelConfig) -> dict[str, dict[str, float]]:
    """Each feature's drift levels (``{"warn": …, "alert": …}``): its own, else the model's default."""
    monitoring = config.monitoring
    return {name: {"warn": levels.warn, "alert": levels.alert}
            for name in config.data.features
            for levels in [monitoring.features.get(name, monitoring.thresholds)]}


def platform_content(reader: DashboardReader, now: dt.datetime) -> dict[str, Any]:
    """The Platform page: DAG rows with duration trends, SLA misses, stuck work, components, config errors."""
    latest = reader.latest_health()
    durations = reader.health_series("run_failures", now - dt.timedelta(days=TREND_DAYS), every_hours=6)
    return {"dags": views.dag_rows(latest, durations), "failing": views.failing(latest),
            "sla": views.problems(latest, "sla_misses"),
            "stuck": views.problems(latest, "stuck_tasks") + views.problems(latest, "queued_runs"),
            "components": views.by_check(latest, "component"),
            "errors": [*views.problems(latest, "config_errors"), *views.problems(latest, "import_errors"),
                       *views.problems(latest, "training_pool")],
            "latest_at": max((f.checked_at for f in latest if f.checked_at), default=None)}
