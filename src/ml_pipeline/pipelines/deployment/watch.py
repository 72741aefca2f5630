"""The watch after a promotion: the new champion judged on the labelled data that lands next."""

from __future__ import annotations

import datetime as dt
import logging

from ml_pipeline.deployment import history as hist
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.changes import deployment_event
from ml_pipeline.pipelines.deployment.errors import DeploymentError, WatchUnjudgedError
from ml_pipeline.pipelines.deployment.holdout import labelled_features
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.results import Evaluation, LivePerformance
from ml_pipeline.pipelines.deployment.target import DeploymentTarget

log = logging.getLogger(__name__)
LAKE_FIX = "Fix the lake's access or the window's files, then clear the watch with its downstream tasks to judge it"
WINDOW_FIX = ("Widen deployment.watch.window_days (read again when the task is cleared), then clear the watch with "
              "its downstream tasks; or judge it yourself and roll back by hand (`ml-pipeline rollback {model}`)")


def live_window(ctx: RunContext, evaluation: Evaluation) -> list[str]:
    """The days after the holdout the new champion is watched on (labelled data that lands after promotion)."""
    last = dt.date.fromisoformat(evaluation["holdout"]["days"][-1])
    return [(last + dt.timedelta(days=i)).isoformat() for i in range(1, ctx.config.deployment.watch.window_days + 1)]


def live_performance(ctx: RunContext, evaluation: Evaluation, days: list[str]) -> LivePerformance:
    """The champion's AUC on the watch window's data, judged as monitoring judges decay (``judge_live``).

    Raises:
        DeploymentError: The AUC is below ``watch.min_auc`` (default ``min_auc_threshold``): the DAG rolls back.
        WatchUnjudgedError: The window's data cannot be read (access denied, a path that cannot be listed, a
            corrupt file), or holds no rows or one class: no verdict, the champion stays.
    """
    from ml_pipeline.failures.classification import is_transient, one_line
    from ml_pipeline.monitoring.performance import judge_live

    version, target, model = evaluation["challenger"]["version"], ctx.config.data.target_column, ctx.config.model_name
    try:
        frame = labelled_features(ctx, [dt.date.fromisoformat(d) for d in days])
    except Exception as exc:  # refused keys, a corrupt file, a missing column; a lake that does not answer: retried
        if is_transient(exc):
            raise
        raise WatchUnjudgedError(f"the watch cannot read the labelled data of its window ({one_line(exc)})",
                                 LAKE_FIX) from exc
    classes = frame[target].n_unique() if frame.height else 0
    if classes < 2:  # no AUC: scoring nothing would fail, one class has no ranking to judge
        raise WatchUnjudgedError(f"v{version} cannot be judged live on {', '.join(days)}: {frame.height} labelled "
                                 f"rows, {classes} class(es) of {target}", WINDOW_FIX.format(model=model))
    scores = ModelRegistry.for_run(ctx).scores(version, frame, ctx.config.data.features)
    threshold = ctx.config.deployment.watch.min_auc or ctx.config.deployment.min_auc_threshold
    live = judge_live(frame[target].to_numpy(), scores, min_rows=1, min_auc=threshold)
    if live.auc is None:
        raise WatchUnjudgedError(f"v{version} cannot be judged live on {', '.join(days)}: {live.reason}",
                                 WINDOW_FIX.format(model=model))
    result: LivePerformance = {"version": version, "days": days, "rows": live.rows, "auc": live.auc,
                               "min_auc": threshold}
    log.info("live performance of v%s: %s", version, result)
    if live.decayed:
        raise DeploymentError(f"v{version} underperforms live: auc {live.auc:.4f} < {threshold:.4f} on "
                              f"{', '.join(days)} ({live.rows} rows)")
    return result


def champion_now(ctx: RunContext) -> str | None:
    """The version ``champion`` names now (None: no champion); a watch or rollback of an older one has no object."""
    found = ModelRegistry.for_run(ctx).champion()
    return found.version if found else None


def record_unjudged(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation, reason: str) -> None:
    """Keep in the history that the watch ended without a verdict on the champion (``watch_unjudged``)."""
    version = evaluation["challenger"]["version"]
    target.history().record(deployment_event(ctx, hist.WATCH_UNJUDGED, version, version, reason))
