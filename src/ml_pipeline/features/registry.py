"""The feature views models can use: the only feature code a model needs, and only for derived features.

A model's config lists feature names. Raw columns of its data pass straight to the
model; a name that a registered view produces selects that view (or the config
names views explicitly in ``data.feature_functions``). A view is a table keyed by an
entity and a timestamp (what Feast calls a feature view): the feature pipeline
computes it per daily partition and writes it to the feature store, and training
joins it onto each example *as of* the example's time (point in time). Request
features are computed from the example's own columns after that join.

This module imports no data library: DAG files read it to decide which models get a
feature pipeline; the compute functions are imported when a view is computed.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


@dataclass(frozen=True)
class FeatureView:
    """A table of features keyed by ``entity`` and ``event_time``, computed from raw events."""

    name: str
    entity: str
    inputs: tuple[str, ...]
    features: dict[str, str]  # column → type ("int32", "float64")
    compute_path: str  # "module:function(events, start, end)" → rows with event_time in [start, end)
    description: str
    lookback: dt.timedelta = dt.timedelta(hours=24)  # earlier events the computation reads
    ttl: dt.timedelta = dt.timedelta(hours=48)  # a row older than this is not served for an example

    def compute(self, events: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
        module, function = self.compute_path.split(":")
        return getattr(importlib.import_module(module), function)(events, start, end)


@dataclass(frozen=True)
class RequestFeature:
    """A feature computed from an example's own columns and its joined view features (Feast: on-demand)."""

    name: str
    needs: tuple[str, ...]
    expression: Callable[[], pl.Expr]


FRAUD = "ml_pipeline.features.fraud"
FEATURE_VIEWS: dict[str, FeatureView] = {v.name: v for v in (
    FeatureView("card_windows", "card_id", ("transaction_id", "card_id", "amount", "event_time"),
                {"transaction_count_1h": "int32", "transaction_avg_24h": "float64"}, f"{FRAUD}:card_window_table",
                "per card, as of each transaction: transactions in the past hour, mean amount over the past 24 h"),
    FeatureView("merchant_category_stats", "merchant_category", ("merchant_category", "amount", "event_time"),
                {"category_txn_count_24h": "int32", "category_avg_amount_24h": "float64"},
                f"{FRAUD}:category_stats_table",
                "per merchant category, on the hour: transactions and mean amount over the past 24 h"),
)}
REQUEST_FEATURES: dict[str, RequestFeature] = {f.name: f for f in (
    RequestFeature("amount_to_avg_24h", ("amount", "transaction_avg_24h"), lambda: _ratio("amount",
                                                                                          "transaction_avg_24h")),
)}


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    import polars as pl

    return pl.col(numerator) / pl.col(denominator)


def views_for(features: Iterable[str], explicit: Iterable[str] | None = None) -> list[FeatureView]:
    """The views to join: those named explicitly, else those producing a requested feature.

    A view produces a requested feature directly or through a request feature.
    """
    if explicit is not None:
        unknown = sorted(set(explicit) - set(FEATURE_VIEWS))
        if unknown:
            raise KeyError(f"unknown feature view(s) {', '.join(unknown)}; known: {', '.join(FEATURE_VIEWS)}")
        return [FEATURE_VIEWS[name] for name in explicit]
    wanted = set(features)
    wanted |= {need for name in wanted & set(REQUEST_FEATURES) for need in REQUEST_FEATURES[name].needs}
    return [view for view in FEATURE_VIEWS.values() if wanted & set(view.features)]


def derived_feature_names(views: Iterable[FeatureView]) -> set[str]:
    """Every column the views and the request features add."""
    return {name for view in views for name in view.features} | set(REQUEST_FEATURES)


def required_input_columns(features: Iterable[str], explicit: Iterable[str] | None = None) -> list[str]:
    """Columns the raw data must have: raw features, the views' inputs and their timestamp."""
    features = list(features)
    views = views_for(features, explicit)
    derived = derived_feature_names(views)
    needs = [need for name in features if name in REQUEST_FEATURES for need in REQUEST_FEATURES[name].needs]
    needed = [c for c in features + needs if c not in derived] + [c for v in views for c in v.inputs]
    return list(dict.fromkeys(needed))


def point_in_time_join(frame: pl.DataFrame, table: pl.DataFrame, view: FeatureView,
                       timestamp_column: str = "event_time") -> pl.DataFrame:
    """Add ``view``'s features to each row of ``frame`` as of the row's time.

    Each row gets the latest row of ``table`` for the same entity at or before it, no older than the view's ttl
    (null when there is none). Rows keep their order.
    """
    import polars as pl

    right = table.rename({"event_time": "_feature_time"}).sort("_feature_time")
    left = frame.with_row_index("_row").sort(timestamp_column)
    joined = left.join_asof(right, left_on=timestamp_column, right_on="_feature_time", by=view.entity,
                            strategy="backward", tolerance=view.ttl, check_sortedness=False)
    return joined.sort("_row").drop("_row", "_feature_time").with_columns(
        pl.col(name).cast(polars_type(kind)) for name, kind in view.features.items())


def add_request_features(frame: pl.DataFrame, features: Iterable[str]) -> pl.DataFrame:
    """Compute the requested request features from the row's columns."""
    wanted = [REQUEST_FEATURES[name] for name in features if name in REQUEST_FEATURES]
    return frame.with_columns(f.expression().alias(f.name) for f in wanted) if wanted else frame


def build_features(frame: pl.DataFrame, features: Iterable[str], explicit: Iterable[str] | None = None,
                   timestamp_column: str = "event_time") -> pl.DataFrame:
    """Compute the views over ``frame`` itself and join them point in time.

    The in-memory twin of reading them from the feature store (tests compare the two). Raw-only models get
    ``frame`` back as it is.
    """
    features = list(features)
    views = views_for(features, explicit)
    if not views:
        return add_request_features(frame, features)
    first = frame[timestamp_column].min()
    start = first.replace(minute=0, second=0, microsecond=0)  # hourly snapshots from the first event's hour
    end = frame[timestamp_column].max() + dt.timedelta(microseconds=1)
    for view in views:
        frame = point_in_time_join(frame, view.compute(frame, start, end), view, timestamp_column)
    return add_request_features(frame, features)


def polars_type(kind: str):
    """The polars type of a view's column type name."""
    import polars as pl

    return {"int32": pl.Int32, "int64": pl.Int64, "float64": pl.Float64, "string": pl.String}[kind]
