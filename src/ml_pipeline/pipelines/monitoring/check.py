"""One check of the champion: the newest window of landed data and logged predictions against its reference.

Four verdicts, each with pinned methods so that a score stored today compares with one stored last month:
- **data drift**: the model's input features, PSI per feature (``monitoring.drift``), dataset drift when the
  share of features at alert level reaches ``monitoring.drift_share``;
- **prediction drift**: the scores the endpoint logged (or, with too few logged, the champion's scores on the
  window) against the champion's scores on its own holdout;
- **target drift**: the label mix, when labels have landed;
- **live performance**: AUC, precision, recall on labels for rows the champion never trained on (served
  predictions joined by ``monitoring.entity_key``, else the window's newly landed rows), decayed when AUC falls
  more than ``monitoring.max_auc_drop`` under its holdout AUC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.monitoring.reference import SCORE, label_frame, read_profile
from ml_pipeline.pipelines.monitoring.results import CheckResult, Reference

log = logging.getLogger(__name__)
SKIPPED, STABLE, WARN, ALERT = "skipped", "stable", "warn", "alert"


@dataclass(frozen=True)
class Window:
    """The newest ``monitoring.window_hours`` of landed data, with the model's features computed."""

    frame: pl.DataFrame
    start: dt.datetime
    end: dt.datetime
    fingerprint: str


def newest_window(ctx: RunContext) -> Window | None:
    """The newest ``monitoring.window_hours`` of landed data (whatever the run's date); None when nothing landed.

    The window ends at the newest event landed, not at the clock: a check judges the data that exists, and a
    partition that lands late is judged when it lands.
    """
    from ml_pipeline.data.lake import fingerprint
    from ml_pipeline.data.loader import partition_uri
    from ml_pipeline.pipelines.deployment.holdout import labelled_features, landed_days

    days = landed_days(ctx)
    if not days:
        return None
    hours = ctx.config.monitoring.window_hours
    first = days[-1] - dt.timedelta(days=math.ceil(hours / 24))  # the window may reach into the day before
    wanted = [day for day in days if day >= first]
    ts = ctx.config.data.timestamp_column
    frame = labelled_features(ctx, wanted)
    if frame.height == 0:
        return None
    end = frame[ts].max() + dt.timedelta(microseconds=1)
    start = end - dt.timedelta(hours=hours)
    frame = frame.filter((pl.col(ts) >= start) & (pl.col(ts) < end))
    prints = "|".join(f"{day}:{fingerprint(partition_uri(ctx.dataset_uri, day))[0]}" for day in wanted)
    return Window(frame, start, end, hashlib.sha256(f"{start}|{end}|{prints}".encode()).hexdigest()[:32])


def check_window(ctx: RunContext, reference: Reference, last_fingerprint: str | None = None) -> CheckResult:
    """Judge the champion on the newest window; ``skipped`` (with why) when there is nothing new to judge.

    Args:
        ctx: The run.
        reference: The champion's reference (``load_reference``).
        last_fingerprint: The fingerprint of the window the previous check of this version judged: the same
            data again is not judged twice (an hourly check over a daily partition would alert 24 times).
    """
    from ml_pipeline.monitoring import drift

    cfg = ctx.config
    window = newest_window(ctx)
    if window is None:
        return _skipped(ctx, reference, None, f"no landed data under {ctx.dataset_uri}")
    if window.fingerprint == last_fingerprint:
        return _skipped(ctx, reference, window, "no new data since the last check of this version "
                                                f"(window {window.start:%Y-%m-%d %H:%M} – {window.end:%H:%M} UTC)")
    if window.frame.height < cfg.monitoring.min_rows:
        return _skipped(ctx, reference, window, f"the window has {window.frame.height} row(s), fewer than "
                                                f"monitoring.min_rows {cfg.monitoring.min_rows}: not judged")
    profile = read_profile(reference["profile_uri"])
    limits = drift.Thresholds(**cfg.monitoring.thresholds.model_dump())
    per_feature = {name: drift.Thresholds(**t.model_dump()) for name, t in cfg.monitoring.features.items()}
    features = drift.compare(drift.ReferenceProfile.from_dict(profile["features"]), window.frame, per_feature,
                             cfg.monitoring.drift_share, default=limits)
    scorer = _ChampionScores(ctx, reference["version"], window.frame)
    logged = logged_predictions(ctx, reference["version"])  # read once: prediction drift and served labels
    predictions = _prediction_drift(ctx, logged, profile, scorer, limits)
    target = _target_drift(ctx, profile, window.frame, limits)
    live = _live(ctx, reference, window, scorer, logged)
    drifted = features.drifted or predictions.get("status") == ALERT
    cause = "drift" if drifted else "decay" if live["status"] == "decayed" else None
    warned = features.status != STABLE or predictions.get("status") == WARN or target.get("status") in (WARN, ALERT)
    status = ALERT if cause else WARN if warned else STABLE
    reason = _reason(features, predictions, target, live)
    log.info("%s v%s: %s (%s)", cfg.model_name, reference["version"], status, reason)
    return {"model": cfg.model_name, "version": reference["version"], "status": status, "reason": reason,
            "cause": cause, "window_start": window.start.isoformat(), "window_end": window.end.isoformat(),
            "fingerprint": window.fingerprint, "rows": window.frame.height, "drift": features.to_dict(),
            "predictions": predictions, "target": target, "live": live}


class _ChampionScores:
    """The champion's scores on the window's rows, computed at most once (loading the model costs seconds)."""

    def __init__(self, ctx: RunContext, version: str, frame: pl.DataFrame) -> None:
        self.ctx, self.version, self.frame = ctx, version, frame
        self._scores: np.ndarray | None = None

    def __call__(self) -> np.ndarray:
        if self._scores is None:
            from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry

            registry = ModelRegistry.for_run(self.ctx)
            self._scores = registry.scores(self.version, self.frame, self.ctx.config.data.features)
        return self._scores


def _prediction_drift(ctx: RunContext, logged: pl.DataFrame, profile: dict, scorer: _ChampionScores,
                      limits: Any) -> dict[str, Any]:
    """Logged scores of the champion over the last ``window_hours`` (or its scores on the window) vs its holdout."""
    from ml_pipeline.monitoring import drift

    if logged.height >= ctx.config.monitoring.min_rows:
        scores, source = logged[SCORE].to_numpy(), f"{logged.height} predictions logged by the endpoint"
    else:
        scores = scorer()
        source = f"the champion's scores on the window ({logged.height} logged, fewer than monitoring.min_rows)"
    report = drift.compare(drift.ReferenceProfile.from_dict(profile["scores"]), pl.DataFrame({SCORE: scores}),
                           {}, 1.0, default=limits)
    return {**report.features[0].to_dict(), "source": source, "rows": int(len(scores))}


def logged_predictions(ctx: RunContext, version: str) -> pl.DataFrame:
    """What the endpoint logged for ``version`` over the last ``monitoring.window_hours``."""
    from ml_pipeline.monitoring.prediction_log import read_predictions

    now = dt.datetime.now(dt.UTC)
    frame = read_predictions(ctx.lake_uri, ctx.config.model_name,
                             now - dt.timedelta(hours=ctx.config.monitoring.window_hours), now)
    return frame.filter(pl.col("model_version") == version) if frame.height else frame


def _target_drift(ctx: RunContext, profile: dict, frame: pl.DataFrame, limits: Any) -> dict[str, Any]:
    """The label mix of the window against the reference's, when labels have landed."""
    from ml_pipeline.monitoring import drift

    target = ctx.config.data.target_column
    if target not in frame.columns or frame[target].drop_nulls().len() < ctx.config.monitoring.min_rows:
        return {"status": SKIPPED, "reason": "no labels in the window yet"}
    labelled = frame.filter(pl.col(target).is_not_null())
    report = drift.compare(drift.ReferenceProfile.from_dict(profile["target"]), label_frame(labelled, target), {},
                           1.0, default=limits)
    return {**report.features[0].to_dict(), "positive_rate": float(labelled[target].mean())}


def _live(ctx: RunContext, reference: Reference, window: Window, scorer: _ChampionScores,
          logged: pl.DataFrame) -> dict[str, Any]:
    """Live metrics on labels for rows after the champion's training data: served ones first, else landed ones."""
    from ml_pipeline.monitoring.performance import judge_live

    mon, data = ctx.config.monitoring, ctx.config.data
    fresh = pl.col(data.timestamp_column) > dt.datetime.fromisoformat(reference["trained_through"])
    labels, scores, source = _served_labels(ctx, logged, window.frame)
    if len(labels) < mon.min_labelled_rows:
        rows = window.frame.with_columns(pl.Series("__score", scorer())).filter(
            fresh & pl.col(data.target_column).is_not_null())
        labels, scores = rows[data.target_column].to_numpy(), rows["__score"].to_numpy()
        source = "landed rows newer than the champion's training data, scored by the champion"
    live = judge_live(labels, scores, min_rows=mon.min_labelled_rows, baseline_auc=reference["holdout_auc"],
                      max_auc_drop=mon.max_auc_drop)
    return {**live.to_dict(), "source": source}


def _served_labels(ctx: RunContext, logged: pl.DataFrame, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, str]:
    """Labels joined to the scores the endpoint served (``logged``), by ``monitoring.entity_key``; empty without one."""
    key, target = ctx.config.monitoring.entity_key, ctx.config.data.target_column
    if not key or key not in frame.columns:
        return np.array([]), np.array([]), ""
    logged = logged.filter(pl.col("entity_id").is_not_null())
    joined = logged.select("entity_id", SCORE).join(
        frame.select(pl.col(key).cast(pl.String).alias("entity_id"), target).filter(pl.col(target).is_not_null()),
        on="entity_id", how="inner")
    return joined[target].to_numpy(), joined[SCORE].to_numpy(), f"{joined.height} served predictions with labels"


def _reason(features: Any, predictions: dict, target: dict, live: dict) -> str:
    """One line: the verdicts that matter, most severe first."""
    parts = []
    drifted = [f for f in features.top(3) if f.status != STABLE]
    share = f"{features.drift_share:.0%} of features at alert (threshold {features.drift_share_threshold:.0%})"
    if drifted:
        parts.append(share + ": " + ", ".join(f"{f.feature} {f.method} {f.score:.3f} ({f.status})" for f in drifted))
    else:
        parts.append("inputs stable")
    if predictions.get("status") in (WARN, ALERT):
        parts.append(f"prediction drift PSI {predictions['score']:.3f} ({predictions['status']})")
    if target.get("status") in (WARN, ALERT):
        parts.append(f"target drift PSI {target['score']:.3f}, positive rate {target['positive_rate']:.2%}")
    parts.append(live["reason"])
    return "; ".join(parts)


def _skipped(ctx: RunContext, reference: Reference, window: Window | None, reason: str) -> CheckResult:
    log.info("%s v%s: check skipped: %s", ctx.config.model_name, reference["version"], reason)
    return {"model": ctx.config.model_name, "version": reference["version"], "status": SKIPPED, "reason": reason,
            "cause": None, "window_start": window and window.start.isoformat(),
            "window_end": window and window.end.isoformat(), "fingerprint": window and window.fingerprint,
            "rows": window.frame.height if window else 0, "drift": {}, "predictions": {}, "target": {}, "live": {}}
