"""The reference a champion is judged against: the data it was trained on, profiled once per version.

The snapshot comes from the version's lineage tags (``lineage.data.snapshot_uri``), so the reference always
matches what is serving: a new champion brings its own. The profile (feature bins, the champion's scores on its
holdout, the label rate) is cached next to the lake's monitoring data and never recomputed for the same version.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import polars as pl

from ml_pipeline.data.lake import exists, join_uri, read_parquet
from ml_pipeline.errors import PermanentError
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.monitoring.results import Reference

log = logging.getLogger(__name__)
SNAPSHOT_TAG = "lineage.data.snapshot_uri"
SCORE = "score"


class ReferenceMissingError(PermanentError, RuntimeError):
    """The champion's training snapshot cannot be read: drift has nothing to be measured against."""

    def __init__(self, message: str, version: str) -> None:
        super().__init__(message)
        self.version = version


def monitoring_uri(ctx: RunContext, *parts: str) -> str:
    """Where monitoring keeps its files for the run's model: ``<lake>/monitoring/<model>/...``."""
    return join_uri(ctx.lake_uri, "monitoring", ctx.config.model_name, *parts)


def load_reference(ctx: RunContext) -> Reference | None:
    """The champion's reference, profiled now unless cached for its version; None when there is no champion.

    Raises:
        ReferenceMissingError: The version has no snapshot tag, or its snapshot is gone from the lake.
        TransientError: MLflow is unreachable (never read as "no champion").
    """
    from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry

    registry = ModelRegistry.for_run(ctx)
    champion = registry.champion()
    if champion is None:
        return None
    version, tags = str(champion.version), dict(champion.tags or {})
    snapshot = tags.get(SNAPSHOT_TAG)
    name = ctx.config.model_name
    if not snapshot:
        raise ReferenceMissingError(
            f"{name} v{version} has no {SNAPSHOT_TAG} tag: it was not registered by the training pipeline, so "
            f"monitoring cannot know its training data. Retrain it with ml_training_{name} (its versions carry "
            "lineage), or tag the version with the URI of the data it was trained on", version)
    cache = monitoring_uri(ctx, "reference", f"v{version}.json")
    if exists(cache):
        cached = read_profile(cache)
        return _reference(ctx, version, snapshot, cache, cached)
    if not exists(snapshot):
        raise ReferenceMissingError(
            f"the training snapshot of {name} v{version} ({SNAPSHOT_TAG} = {snapshot}) is gone from the lake: "
            "drift cannot be measured without the data the champion learned from. Restore the file from a backup "
            f"of the lake, or retrain {name} (a new champion brings its own snapshot)", version)
    profile = _profile(ctx, registry, version, tags, snapshot)
    _write_json(cache, profile)
    log.info("profiled the reference of %s v%s from %s (%d rows): %s", name, version, snapshot, profile["rows"],
             cache)
    return _reference(ctx, version, snapshot, cache, profile)


def read_profile(uri: str) -> dict[str, Any]:
    """A cached reference profile (the JSON ``load_reference`` wrote)."""
    import fsspec

    with fsspec.open(uri, "r") as handle:
        return json.load(handle)


def _reference(ctx: RunContext, version: str, snapshot: str, cache: str, profile: dict[str, Any]) -> Reference:
    return {"model": ctx.config.model_name, "version": version, "snapshot_uri": snapshot, "profile_uri": cache,
            "trained_through": profile["trained_through"], "holdout_auc": profile["holdout_auc"]}


def _profile(ctx: RunContext, registry: Any, version: str, tags: dict[str, str], snapshot: str) -> dict[str, Any]:
    """Profile the snapshot's features, the champion's holdout scores and the label rate."""
    from ml_pipeline.evaluation.metrics import classification_metrics
    from ml_pipeline.features.registry import build_features
    from ml_pipeline.monitoring import drift
    from ml_pipeline.training.split import split_by_time

    data = ctx.config.data
    frame = build_features(read_parquet(snapshot), data.features, data.feature_functions, data.timestamp_column)
    _, holdout = split_by_time(frame, ctx.config.training.validation_split, data.timestamp_column)
    scores = registry.scores(version, holdout, data.features)
    labels = holdout[data.target_column].to_numpy()
    holdout_auc = float(tags["holdout_auc"]) if tags.get("holdout_auc") else \
        classification_metrics(labels, scores).auc
    return {"model": ctx.config.model_name, "version": version, "snapshot_uri": snapshot, "rows": frame.height,
            "trained_through": frame[data.timestamp_column].max().isoformat(), "holdout_auc": holdout_auc,
            "features": drift.profile(frame, list(data.features)).to_dict(),
            "scores": drift.profile(pl.DataFrame({SCORE: scores}), [SCORE]).to_dict(),
            "target": drift.profile(label_frame(frame, data.target_column), [data.target_column]).to_dict()}


def label_frame(frame: pl.DataFrame, target: str) -> pl.DataFrame:
    """The target column as categories ("0"/"1"): target drift is a change of its category mix."""
    return frame.select(pl.col(target).cast(pl.Int64).cast(pl.String))


def _write_json(uri: str, payload: dict[str, Any]) -> None:
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(f"{path}.tmp", "w") as handle:
        json.dump(payload, handle)
    fs.mv(f"{path}.tmp", path)
