"""Fraud features per card, computed from strictly earlier events only (no leakage).

A transaction's window features use the card's events in ``[t - window, t)``:
the transaction itself and anything after it never contribute, so a feature
computed at training time equals what a real-time scorer could know.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from ml_pipeline.data.validator import require_columns

REQUIRED_COLUMNS = ("transaction_id", "card_id", "amount", "event_time")
WINDOW_FEATURES = ("transaction_count_1h", "transaction_avg_24h", "amount_to_avg_24h")


def engineer_fraud_features(transactions: pl.DataFrame) -> pl.DataFrame:
    """Return the input columns plus the fraud features, sorted by event time."""
    require_columns(transactions, REQUIRED_COLUMNS, where="engineer_fraud_features input")
    ordered = transactions.sort("card_id", "event_time", "transaction_id")
    count_1h = _past_window(ordered, "1h", pl.len().alias("transaction_count_1h"))
    avg_24h = _past_window(ordered, "24h", pl.col("amount").mean().alias("transaction_avg_24h"))
    features = ordered.with_columns(
        count_1h["transaction_count_1h"].cast(pl.Int32),
        avg_24h["transaction_avg_24h"],
    ).with_columns(
        (pl.col("amount") / pl.col("transaction_avg_24h")).alias("amount_to_avg_24h"),
    )
    return features.sort("event_time", "transaction_id")


def _past_window(ordered: pl.DataFrame, period: str, aggregation: pl.Expr) -> pl.DataFrame:
    """Aggregate each card's events in ``[t - period, t)``; rows keep ``ordered``'s order."""
    return ordered.rolling(index_column="event_time", period=period, group_by="card_id",
                           closed="left").agg(aggregation)


CARD_FEATURES = {"transaction_count_1h": "int32", "transaction_avg_24h": "float64"}
CATEGORY_FEATURES = {"category_txn_count_24h": "int32", "category_avg_amount_24h": "float64"}


def card_window_table(events: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Per-card features as of each of the card's transactions in ``[start, end)``: one row per card and timestamp.

    ``events`` must reach 24 h before ``start`` for the windows to be complete. Two transactions of one card at
    the same instant share their window (it ends before both), so one row per (card, time) loses nothing.
    """
    features = engineer_fraud_features(events.filter(pl.col("event_time") < end))
    return (features.filter(pl.col("event_time") >= start)
            .select("card_id", "event_time", *CARD_FEATURES)
            .unique(["card_id", "event_time"], keep="first", maintain_order=True)
            .sort("event_time", "card_id"))


def category_stats_table(events: pl.DataFrame, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Merchant-category statistics on the hour.

    For each hour ``h`` in ``[start, end)`` and each category, the count and mean amount of its transactions in
    ``[h - 24 h, h)``. A transaction at ``t`` is joined to the latest snapshot at or before ``t``, so it sees at
    most the past 24 h up to its own hour, never itself or later.
    """
    require_columns(events, ("merchant_category", "amount", "event_time"), where="category_stats_table input")
    first = _ceil_hour(start)
    hours = pl.datetime_range(first, end, "1h", closed="left", time_zone="UTC", time_unit="us", eager=True)
    if hours.is_empty():
        return _empty_category_table()
    recent = events.filter((pl.col("event_time") >= first - dt.timedelta(hours=24)) & (pl.col("event_time") < end))
    bins = (recent.group_by("merchant_category", pl.col("event_time").dt.truncate("1h").alias("hour"))
            .agg(pl.len().alias("n"), pl.col("amount").sum().alias("total")))
    grid_hours = pl.datetime_range(first - dt.timedelta(hours=24), hours[-1], "1h", closed="left",
                                   time_zone="UTC", time_unit="us", eager=True).alias("hour")
    categories = events.select(pl.col("merchant_category").drop_nulls().unique().sort())
    grid = (categories.join(grid_hours.to_frame(), how="cross")
            .join(bins, on=["merchant_category", "hour"], how="left")
            .with_columns(pl.col("n").fill_null(0), pl.col("total").fill_null(0.0))
            .sort("merchant_category", "hour"))
    window = grid.with_columns(
        pl.col("n").rolling_sum(24, min_samples=1).over("merchant_category").alias("n24"),
        pl.col("total").rolling_sum(24, min_samples=1).over("merchant_category").alias("total24"),
        (pl.col("hour") + dt.timedelta(hours=1)).alias("event_time"),
    )
    return (window.filter(pl.col("event_time").is_in(hours.implode()))
            .select("merchant_category", "event_time",
                    pl.col("n24").cast(pl.Int32).alias("category_txn_count_24h"),
                    pl.when(pl.col("n24") > 0).then(pl.col("total24") / pl.col("n24"))
                    .alias("category_avg_amount_24h").cast(pl.Float64))
            .sort("event_time", "merchant_category"))


def _ceil_hour(moment: dt.datetime) -> dt.datetime:
    floored = moment.replace(minute=0, second=0, microsecond=0)
    return floored if floored == moment else floored + dt.timedelta(hours=1)


def _empty_category_table() -> pl.DataFrame:
    return pl.DataFrame(schema={"merchant_category": pl.String, "event_time": pl.Datetime("us", "UTC"),
                                "category_txn_count_24h": pl.Int32, "category_avg_amount_24h": pl.Float64})
