"""Feast's own point-in-time retrieval (``get_historical_features``): the reference training's polars read over the
offline files (``ml_pipeline.feature_store.store.historical_features``) is checked against, and benchmarked beside."""

from __future__ import annotations

import polars as pl

from ml_pipeline.config import ModelConfig
from ml_pipeline.feature_store.settings import FeatureStoreSettings
from ml_pipeline.feature_store.store import model_views, open_store
from ml_pipeline.features.registry import polars_type

TIMESTAMP = "event_timestamp"  # the entity frame's timestamp column, as Feast names it


def feast_historical_features(settings: FeatureStoreSettings, config: ModelConfig, frame: pl.DataFrame
                              ) -> pl.DataFrame:
    """``frame`` with the model's view features from Feast's ``get_historical_features``.

    Feast sees each distinct (entity, timestamp) once and the result is joined back by those keys, so no example is
    dropped or duplicated; an example without features gets nulls.
    """
    store = open_store(settings)
    timestamp = config.data.timestamp_column
    for view in model_views(config):
        keys = (frame.select(pl.col(view.entity), pl.col(timestamp).alias(TIMESTAMP))
                .drop_nulls().unique(maintain_order=True))
        refs = [f"{settings.feast_name(config.model_name, view.name)}:{name}" for name in view.features]
        got = store.get_historical_features(entity_df=keys.to_pandas(), features=refs).to_df()
        table = (pl.from_pandas(got[[view.entity, TIMESTAMP, *view.features]])
                 .with_columns(pl.col(TIMESTAMP).cast(frame.schema[timestamp]),
                               *(pl.col(n).cast(polars_type(t)) for n, t in view.features.items()))
                 .unique([view.entity, TIMESTAMP], keep="first"))
        frame = frame.drop(*view.features, strict=False).join(
            table, left_on=[view.entity, timestamp], right_on=[view.entity, TIMESTAMP], how="left",
            maintain_order="left")
    return frame
