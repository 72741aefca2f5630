"""The feature pipeline's steps: find stale days, compute their feature views, write and materialize them.

The days whose features are missing or stale are found, each day's feature views computed from validated data
only, written to the offline store, then registered and materialized online.

Training and serving read the store; ``features_ready`` is how training checks that the features of its
window were computed from exactly the data it trains on.
"""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl

from ml_pipeline.data.lake import fingerprint, list_parquet_files
from ml_pipeline.data.loader import load_partition, partition_dates, partition_day, partition_uri
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.errors import TransientError
from ml_pipeline.feature_store import offline
from ml_pipeline.features.registry import views_for
from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)


def window_days(ctx: RunContext) -> list[dt.date]:
    days = ctx.config.feature_store.lookback_days or ctx.config.data.lookback_days
    return partition_dates(ctx.logical_date, days)


def pending_days(ctx: RunContext) -> list[str]:
    """Days of the window whose data has landed and whose features are missing or stale (ISO dates)."""
    pending = []
    for day in window_days(ctx):
        if not list_parquet_files(partition_uri(ctx.dataset_uri, day)):
            log.info("%s: no data yet", day)
            continue
        sources = _sources(ctx, day)
        reasons = {view.name: offline.stale_reason(offline.read_manifest(_settings(ctx), ctx.config.model_name,
                                                                         view.name, day), sources)
                   for view in _views(ctx)}
        stale = {name: why for name, why in reasons.items() if why}
        if stale:
            log.info("%s: %s", day, "; ".join(f"{name}: {why}" for name, why in stale.items()))
            pending.append(day.isoformat())
    return pending


def compute_day(ctx: RunContext, day: str) -> dict:
    """Validate one day's partition, compute every view for that day, write the files and their manifests.

    Views are computed from the day and the day before (the windows' look-back).
    """
    from ml_pipeline.pipelines.validation import validate_partition

    date = dt.date.fromisoformat(day)
    uri = partition_uri(ctx.dataset_uri, date)
    validate_partition(ctx, uri)  # raises DataValidationError: bad data never becomes features
    sources = _sources(ctx, date)
    frames = [load_partition(source) for source in sorted(sources, key=partition_day)]
    events = pl.concat(frames, how="diagonal_relaxed")
    if _sources(ctx, date) != sources:
        raise TransientError(f"partition {uri} changed while features were computed; retry later")
    start = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
    written = {}
    for view in _views(ctx):
        table = view.compute(events, start, start + dt.timedelta(days=1))
        manifest = offline.write_day(_settings(ctx), ctx.config.model_name, view.name, date, table, sources,
                                     ctx.run_id)
        written[view.name] = {"uri": manifest["data_uri"], "rows": manifest["rows"]}
        log.info("%s %s: %d rows → %s", day, view.name, manifest["rows"], manifest["data_uri"])
    return {"day": day, "views": written, "sources": sources}


def write_to_feature_store(ctx: RunContext, computed: list[dict]) -> dict:
    """Register the model's views and load the computed days into the online store; what the asset event says."""
    from ml_pipeline.feature_store import store

    days = sorted(item["day"] for item in computed)
    settings = _settings(ctx)
    feast = store.open_store(settings)
    store.apply(feast, settings, ctx.config)
    start = dt.datetime.combine(dt.date.fromisoformat(days[0]), dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(dt.date.fromisoformat(days[-1]) + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    store.materialize(feast, settings, ctx.config, start, end)
    views = [settings.feast_name(ctx.config.model_name, view.name) for view in _views(ctx)]
    return {"model": ctx.config.model_name, "days": days, "feature_views": views, "store": settings.root,
            "rows": sum(v["rows"] for item in computed for v in item["views"].values())}


def features_ready(ctx: RunContext, partitions: list[str], fingerprints: list[str]) -> tuple[bool, list[str]]:
    """Whether every view has fresh features for every partition of a training snapshot; else which days, why.

    ``partitions`` and ``fingerprints`` are the snapshot's partition URIs and the fingerprints they had when loaded.
    """
    current = dict(zip(partitions, fingerprints, strict=True))
    problems = []
    for uri in partitions:
        day = partition_day(uri)
        needed = {source: current.get(source, digest) for source, digest in _sources(ctx, day).items()}
        for view in _views(ctx):
            why = offline.stale_reason(offline.read_manifest(_settings(ctx), ctx.config.model_name, view.name, day),
                                       needed)
            if why:
                problems.append(f"{day} {view.name}: {why}")
    return not problems, problems


def historical_features(ctx: RunContext, frame):
    """The snapshot with the model's view features joined point in time from the offline store."""
    from ml_pipeline.feature_store import store

    return store.historical_features(_settings(ctx), ctx.config, frame)


def _sources(ctx: RunContext, day: dt.date) -> dict[str, str]:
    """The partitions a day's features are computed from, with their fingerprints now.

    They are the day and the day before, where they exist.
    """
    uris = [partition_uri(ctx.dataset_uri, day - dt.timedelta(days=1)), partition_uri(ctx.dataset_uri, day)]
    return {uri: fingerprint(uri)[0] for uri in uris if list_parquet_files(uri)}


def _views(ctx: RunContext):
    views = views_for(ctx.config.data.features, ctx.config.data.feature_functions)
    if not views:
        raise DataValidationError(f"{ctx.config_path}: model '{ctx.config.model_name}' has no derived features "
                                  "(data.features lists raw columns only): it needs no feature pipeline")
    return views


def _settings(ctx: RunContext):
    if ctx.feature_store is None:
        raise RuntimeError("no feature store configured for this run (RunContext.feature_store)")
    return ctx.feature_store
