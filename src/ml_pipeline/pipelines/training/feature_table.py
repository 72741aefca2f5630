"""The run's feature table: the snapshot with the model's features, and its time-based split."""

from __future__ import annotations

import polars as pl

from ml_pipeline.config import ModelConfig
from ml_pipeline.data.lake import read_parquet, write_once
from ml_pipeline.data.paths import join_under, partition_segment
from ml_pipeline.data.validator import require_columns
from ml_pipeline.features.registry import add_request_features, build_features
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.results import FeatureTable, Snapshot
from ml_pipeline.training.split import split_by_time


def engineer_features(ctx: RunContext, loaded: Snapshot) -> FeatureTable:
    """Write the run's feature table: the snapshot with the model's features.

    Derived features are read point in time from the feature store; without a store (an in-process run) the same
    views are computed over the snapshot itself.
    """
    data = ctx.config.data
    snapshot = read_parquet(loaded["snapshot_uri"])
    if ctx.config.uses_feature_store and ctx.feature_store is not None:
        from ml_pipeline.pipelines.features import historical_features

        features = add_request_features(historical_features(ctx, snapshot), data.features)
    else:  # no store (an in-process run): the same views, computed over the snapshot itself
        features = in_memory_features(ctx.config, snapshot)
    require_columns(features, ctx.config.data.features, where=f"{ctx.config_path} data.features")
    folder = partition_segment(data.partition_by, loaded["partition"]) if loaded.get("partition") is not None else ""
    uri = write_once(features, join_under(ctx.run_prefix, folder, "features.parquet"))  # the version's, kept
    return {"features_uri": uri, "rows": features.height}


def in_memory_features(config: ModelConfig, snapshot: pl.DataFrame) -> pl.DataFrame:
    """The model's features computed over ``snapshot`` itself (no feature store): what ``reproduce`` recomputes."""
    return build_features(snapshot, config.data.features, config.data.feature_functions)


def split_features(ctx: RunContext, features: FeatureTable) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The feature table split by time: (older rows to train on, the newest ``validation_split`` as holdout)."""
    return split_frame(ctx, read_parquet(features["features_uri"]))


def split_frame(ctx: RunContext, table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``split_features`` of a feature table already read."""
    return split_by_time(table, ctx.config.training.validation_split, ctx.config.data.timestamp_column)
