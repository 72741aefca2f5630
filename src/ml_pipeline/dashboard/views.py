"""What each page shows, shaped from the stores' records: pure functions, no database, no Airflow.

A model's champion is the version its endpoint check saw the ``champion`` alias on (``platform_health``
"endpoint"), else the version of its last promotion or rollback; its age is counted from that event.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ml_pipeline.dashboard.charts import PALETTE, Box, Series
from ml_pipeline.deployment.history import PROMOTED, ROLLED_BACK, DeploymentEvent
from ml_pipeline.lineage import naming
from ml_pipeline.lineage.queries import VersionLineage
from ml_pipeline.monitoring.history import ERROR, SKIPPED, MonitoringCheck
from ml_pipeline.monitoring.report import COLOURS
from ml_pipeline.platform_health.store import HealthFinding


@dataclass(frozen=True)
class LastRun:
    """A DAG's newest run as Airflow's REST API lists it."""

    dag_id: str
    run_id: str
    state: str
    when: dt.datetime | None


@dataclass(frozen=True)
class ModelRow:
    """One line of the Models page."""

    model: str
    champion: str | None
    champion_since: dt.datetime | None
    endpoint: HealthFinding | None
    training_dag: str
    last_run: LastRun | None
    success_rate_7d: float | None
    durations: list[float | None]
    drift_status: str
    drifted_features: list[str]
    drift_trend: list[float | None]
    auc_trend: list[float | None]
    dead_letters: int


@dataclass(frozen=True)
class DagRow:
    """One DAG on the Platform page: its run figures from the newest ``run_failures`` finding."""

    dag_id: str
    model: str | None
    kind: str
    status: str
    runs_24h: int
    success_rate_24h: float | None
    success_rate_7d: float | None
    p95_s: float | None
    baseline_p95_s: float | None
    durations: list[float | None] = field(default_factory=list)


def champion(events: Sequence[DeploymentEvent],
             endpoint: HealthFinding | None) -> tuple[str | None, dt.datetime | None]:
    """The serving version and since when (see the module's docstring)."""
    changes = [e for e in events if e.action in (PROMOTED, ROLLED_BACK) and e.to_version]
    version = (endpoint.data.get("champion_version") if endpoint else None) or (
        changes[-1].to_version if changes else None)
    since = next((e.created_at for e in reversed(changes) if e.to_version == str(version)), None)
    return (None if version is None else str(version)), since


def judged(checks: Sequence[MonitoringCheck]) -> list[MonitoringCheck]:
    """The checks that judged data (not skipped, not failed)."""
    return [c for c in checks if c.status not in (SKIPPED, ERROR)]


def drifted_features(check: MonitoringCheck | None) -> list[str]:
    """The features of a check at warn or alert level, most drifted first."""
    if check is None:
        return []
    flagged = [(v.get("score", 0.0), name) for name, v in check.features.items() if v.get("status") != "stable"]
    return [name for _, name in sorted(flagged, reverse=True)]


def model_row(model: str, *, training_dag: str, events: Sequence[DeploymentEvent],
              checks: Sequence[MonitoringCheck], training: Sequence[HealthFinding],
              endpoint: HealthFinding | None, last_run: LastRun | None, dead_letters: int) -> ModelRow:
    """A model's line: champion and age, endpoint, training runs, drift and live AUC trends, dead letters."""
    version, since = champion(events, endpoint)
    seen = judged(checks)
    latest = seen[-1] if seen else None
    newest_training = training[-1] if training else None
    return ModelRow(
        model=model, champion=version, champion_since=since, endpoint=endpoint, training_dag=training_dag,
        last_run=last_run,
        success_rate_7d=newest_training.data.get("success_rate_7d") if newest_training else None,
        durations=[f.data.get("duration_p50_s") for f in training],
        drift_status=latest.status if latest else "no checks", drifted_features=drifted_features(latest),
        drift_trend=[c.drift_share for c in seen], auc_trend=[c.live.get("auc") for c in seen],
        dead_letters=dead_letters)


def drift_series(checks: Sequence[MonitoringCheck]) -> list[Series]:
    """Each feature's drift score over time (one line per feature, in the order the checks name them)."""
    names: dict[str, None] = {}
    for check in checks:
        names.update(dict.fromkeys(check.features))
    return [Series(name, [(c.created_at, c.features.get(name, {}).get("score")) for c in judged(checks)])
            for name in names]


def live_series(checks: Sequence[MonitoringCheck]) -> list[Series]:
    """Live AUC, precision and recall over time (labels that landed after scoring)."""
    seen = judged(checks)
    return [Series(metric, [(c.created_at, c.live.get(metric)) for c in seen])
            for metric in ("auc", "precision", "recall") if any(c.live.get(metric) is not None for c in seen)]


RUN_CHECKS = ("latest_run", "run_failures", "run_duration")  # what a DAG row's status is the worst of
SEVERITY = {"alert": 2, "warn": 1, "ok": 0}


def failing(latest: Sequence[HealthFinding]) -> list[HealthFinding]:
    """The DAGs in trouble now: latest run failed, failure rate or duration beyond its limit; worst first."""
    found = [f for f in latest if f.check in RUN_CHECKS and f.status != "ok"]
    return sorted(found, key=lambda f: (-SEVERITY.get(f.status, 0), f.subject, f.check))


def dag_rows(latest: Sequence[HealthFinding], durations: Mapping[str, Sequence[HealthFinding]]) -> list[DagRow]:
    """Every DAG with a ``run_failures`` finding, the worst first, with its p95 duration trend.

    Its status is the worst of its run checks (``RUN_CHECKS``): a DAG whose latest run failed is red at once.
    """
    worst: dict[str, str] = {}
    for f in latest:
        if f.check in RUN_CHECKS and SEVERITY.get(f.status, 0) > SEVERITY.get(worst.get(f.subject, "ok"), 0):
            worst[f.subject] = f.status
    rows = [DagRow(dag_id=f.subject, model=f.model, kind=f.data.get("kind", ""), status=worst.get(f.subject, "ok"),
                   runs_24h=int(f.data.get("runs_24h") or 0), success_rate_24h=f.data.get("success_rate_24h"),
                   success_rate_7d=f.data.get("success_rate_7d"), p95_s=f.data.get("duration_p95_s"),
                   baseline_p95_s=f.data.get("baseline_p95_s"),
                   durations=[p.data.get("duration_p95_s") for p in durations.get(f.subject, ())])
            for f in latest if f.check == "run_failures"]
    order = {"alert": 0, "warn": 1}
    return sorted(rows, key=lambda r: (order.get(r.status, 2), r.dag_id))


def problems(latest: Sequence[HealthFinding], check: str) -> list[HealthFinding]:
    """The newest findings of ``check`` that are not ``ok`` or count something (value > 0), worst first."""
    found = [f for f in latest if f.check == check and (f.status != "ok" or (f.value or 0) > 0)]
    return sorted(found, key=lambda f: (f.status != "alert", -(f.value or 0), f.subject))


def by_check(latest: Sequence[HealthFinding], check: str) -> list[HealthFinding]:
    """The newest findings of one check, by subject."""
    return sorted((f for f in latest if f.check == check), key=lambda f: f.subject)


def age(since: dt.datetime | None, now: dt.datetime) -> str:
    """``3 d 4 h``, ``5 h``, ``12 min`` since ``since``; ``–`` when unknown."""
    if since is None:
        return "–"
    since = since if since.tzinfo else since.replace(tzinfo=dt.UTC)
    minutes = max(int((now - since).total_seconds() // 60), 0)
    days, hours = divmod(minutes // 60, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h" if hours else f"{minutes} min"


MOST_PARTITIONS, MOST_DEPLOYMENTS = 6, 4  # boxes per column before the rest become one "+N more" box
Picture = tuple[list[tuple[str, list[Box]]], list[tuple[str, str]]]


def lineage_picture(lineage: VersionLineage) -> Picture:
    """A version's lineage as columns of boxes (partitions … monitoring) and the arrows between them."""
    up, alias = lineage.upstream, {}
    partitions = [Box(s.key, _day(s.name), f"{s.rows} rows" if s.rows is not None else "", f"{s.key} {s.version}")
                  for s in up.get(naming.PARTITION, [])]
    if len(partitions) > MOST_PARTITIONS:
        hidden = partitions[2:-3]
        alias = {box.id: "partitions+" for box in hidden}
        partitions = [*partitions[:2], Box("partitions+", f"+{len(hidden)} more", "partitions"), *partitions[-3:]]
    data = [Box(s.key, s.kind.replace("_", " ") if s.kind != naming.FEATURE_VIEW else f"view {s.name}",
                f"sha {s.version[:10]}" if s.version else "", f"{s.key}\n{s.version or ''}")
            for kind in (naming.SNAPSHOT, naming.FEATURE_VIEW, naming.OFFLINE_FEATURES) for s in up.get(kind, [])]
    features = [Box(s.key, "features", f"{s.rows} rows" if s.rows is not None else "", s.key)
                for s in up.get(naming.FEATURES, [])]
    runs = [Box(s.key, f"run {s.name.rsplit('/', 1)[-1][:10]}", str(s.properties.get("experiment", "")), s.key)
            for s in up.get(naming.MLFLOW_RUN, [])]
    version = Box(lineage.key, f"v{lineage.version}", lineage.model, lineage.key, PALETTE[0])
    shown = lineage.deployments[-MOST_DEPLOYMENTS:]
    endpoints = [Box(f"deployment-{i}", d.endpoint, f"{_short(d.start)}→{_short(d.end) if d.end else 'now'}",
                     f"{d.action} v{d.version} on {d.endpoint} from {d.start} to {d.end or 'now'}",
                     COLOURS["stable"] if d.end is None else "#999") for i, d in enumerate(shown)]
    if len(lineage.deployments) > len(shown):
        endpoints.insert(0, Box("deployments+", f"+{len(lineage.deployments) - len(shown)} earlier", "deployments"))
    checks = []
    if lineage.checks:
        latest = lineage.checks[-1]
        when = latest.run.get("started") or ""
        status = str(latest.report.properties.get("status", ""))
        checks = [Box("monitoring", f"{len(lineage.checks)} checks", f"latest {when[5:16].replace('T', ' ')}",
                      f"latest: {latest.report.key} {status}", COLOURS.get(status, "#777"))]
    columns = [("partitions", partitions), ("snapshot", data), ("features", features), ("MLflow run", runs),
               ("version", [version]), ("endpoints", endpoints), ("monitoring", checks)]
    edges = {(alias.get(i, i), alias.get(o, o)) for i, o, _ in lineage.edges}
    edges |= {(version.id, box.id) for box in [*endpoints, *checks]}
    return columns, sorted(edges)


def _day(name: str) -> str:
    """A partition's day when its name holds one (``date=2026-11-20``), else its last path part."""
    found = re.search(r"\d{4}-\d{2}-\d{2}", name)
    return found.group(0) if found else name.rstrip("/").rsplit("/", 1)[-1]


def _short(when: dt.datetime | None) -> str:
    return "?" if when is None else when.astimezone(dt.UTC).strftime("%m-%d %H:%M")
