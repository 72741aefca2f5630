"""Fraud features per card, computed from strictly earlier events only (no leakage).

A transaction's window features use the card's events in ``[t - window, t)``:
the transaction itself and anything after it never contribute, so a feature
computed at training time equals what a real-time scorer could know.
"""

from __future__ import annotations

import polars as pl

from ml_pipeline.data.validator import require_columns

REQUIRED_COLUMNS = ("transaction_id", "card_id", "merchant_category", "amount", "region", "event_time")
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
