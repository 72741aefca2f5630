"""Freeze a run's input: the window of daily partitions (or one ``partition_by`` value of it) as a snapshot."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging

import polars as pl

from ml_pipeline.data.lake import hash_frame, read_parquet, write_once, write_parquet
from ml_pipeline.data.loader import load_partition, partition_values, slice_filter, window_uris
from ml_pipeline.data.paths import join_under, partition_segment
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.results import CombinedPartitions, FeatureTable, LoadedSnapshot, Snapshot

log = logging.getLogger(__name__)


def list_partitions(ctx: RunContext) -> list[str]:
    """Values of ``data.partition_by`` found in the run's window: one mapped task each."""
    check_estimator_settings(ctx)
    data = ctx.config.data
    values = partition_values(ctx.dataset_uri, ctx.logical_date, data.lookback_days, data.partition_by)
    if not values:
        raise DataValidationError(f"{ctx.dataset_uri}: no values of '{data.partition_by}' in the window")
    return values


def check_estimator_settings(ctx: RunContext) -> None:
    """Fail the run before any data is read when training would ignore or refuse a hyperparameter."""
    get_estimator(ctx.config.model_type).check_hyperparameters(ctx.config.training.hyperparameters)


def load_data(ctx: RunContext, partition: str | None = None) -> LoadedSnapshot:
    """Freeze the window of daily partitions (or one ``partition_by`` value of it) into a snapshot.

    The snapshot keeps the partitions in order and records each one's row count and fingerprint, so
    validation judges exactly the rows that are trained on, partition by partition.
    """
    check_estimator_settings(ctx)
    column = ctx.config.data.partition_by if partition is not None else None
    name = f"{partition_segment(column, partition)}/snapshot.parquet" if column else "snapshot.parquet"
    uris = window_uris(ctx.dataset_uri, ctx.logical_date, ctx.config.data.lookback_days)
    loads = [_load_partition(ctx, uri, column, partition) for uri in uris]
    window = [(uri, part) for uri, (part, _, _) in zip(uris, loads, strict=True)]
    if column:
        window = [(uri, part.filter(slice_filter(column, partition))) for uri, part in window]
    # diagonal: a partition missing a column still loads; validation reads it as it was (partition_snapshots)
    frame = pl.concat([part for _, part in window], how="diagonal_relaxed")
    data_hash = hash_frame(frame)
    snapshot_uri = write_once(frame, join_under(ctx.run_prefix, name), data_hash)  # a rerun never replaces it
    target = ctx.config.data.target_column
    mean = frame[target].mean() if target in frame.columns and frame[target].dtype.is_numeric() else None
    positive_rate = float(mean) if mean is not None else None  # a broken target is validate_data's to report
    log.info("loaded %d rows from %d partitions into %s", frame.height, len(window), snapshot_uri)
    return {"snapshot_uri": snapshot_uri, "data_hash": data_hash, "rows": frame.height,
            "partitions": uris, "partition_rows": [part.height for _, part in window],
            "partition_snapshots": _exact_partitions(ctx, window, name),
            "fingerprints": [digest for _, digest, _ in loads],
            "file_times": [str(newest) if newest else None for _, _, newest in loads],
            "positive_rate": positive_rate, "partition": partition}


def _exact_partitions(ctx: RunContext, window: list[tuple[str, pl.DataFrame]], name: str) -> list[str] | None:
    """Each partition's rows as read, when the partitions disagree on their columns or types; else None.

    The snapshot's relaxed schema would hide which partition is wrong, so validation reads these instead.
    """
    if all(part.schema == window[0][1].schema for _, part in window):
        return None
    folder = name.removesuffix("snapshot.parquet") + "partitions"
    return [write_parquet(part, join_under(ctx.run_prefix, f"{folder}/{i:03d}.parquet"))
            for i, (_, part) in enumerate(window)]


def _load_partition(ctx: RunContext, uri: str, column: str | None = None,
                    value: str | None = None) -> tuple[pl.DataFrame, str, dt.datetime | None]:
    """Read one partition with its fingerprint and newest file time; an unreadable one is quarantined first.

    For one ``partition_by`` slice (``column``, ``value``) the quarantine entry is that slice's, the one its
    validation resolves once the files are fixed.

    Files that change while being read (an upstream job still writing) are a transient failure: retried later.
    """
    from ml_pipeline.data.lake import fingerprint
    from ml_pipeline.errors import TransientError
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import partition_ref, record_unreadable

    before = fingerprint(uri)
    try:
        frame = load_partition(uri)
    except DataValidationError as exc:
        record_unreadable(ctx.config, rules_for_model(ctx.config, ctx.config_path),
                          partition_ref(ctx.dataset_uri, uri, column, value), ctx.lake_uri, str(exc))
        raise
    if fingerprint(uri) != before:
        raise TransientError(f"partition {uri} changed while it was read (still being written?); retry later")
    return frame, before[0], before[1]


def combine_partitions(ctx: RunContext, loaded: list[LoadedSnapshot],
                       features: list[FeatureTable]) -> CombinedPartitions:
    """Join the per-partition results into one snapshot reference and one feature table for training.

    The combined snapshot is every slice's rows (``partition`` None: all values), in the order of their values;
    its hash covers the slices' hashes in that order, its positive rate is the slices' weighted by their rows.
    """
    order = sorted(range(len(loaded)), key=lambda i: str(loaded[i]["partition"]))
    frames = [read_parquet(features[i]["features_uri"]) for i in order]
    table = pl.concat(frames, how="vertical_relaxed")
    digest = hashlib.sha256("".join(loaded[i]["data_hash"] for i in order).encode()).hexdigest()
    rows = sum(part["rows"] for part in loaded)
    rates = [(part["positive_rate"], part["rows"]) for part in loaded]
    positive_rate = (sum(rate * n for rate, n in rates) / rows
                     if rows and all(rate is not None for rate, _ in rates) else None)
    combined: Snapshot = {"snapshot_uri": ",".join(loaded[i]["snapshot_uri"] for i in order), "data_hash": digest,
                          "rows": rows, "partitions": loaded[0]["partitions"], "positive_rate": positive_rate,
                          "partition": None}
    uri = write_once(table, ctx.artifact_uri("features.parquet"))
    return {"loaded": combined, "features": {"features_uri": uri, "rows": table.height}}
