"""Tiny hand-written frames for unit tests."""

from __future__ import annotations

import datetime as dt

import polars as pl

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)


def transactions(rows: list[tuple[str, int, float]], category: str = "grocery") -> pl.DataFrame:
    """Transactions from (card_id, minutes after T0, amount) triples."""
    return pl.DataFrame({
        "transaction_id": [f"tx-{i}" for i in range(len(rows))],
        "card_id": [r[0] for r in rows],
        "merchant_id": ["m-1"] * len(rows),
        "merchant_category": [category] * len(rows),
        "amount": [float(r[2]) for r in rows],
        "region": ["eu-west"] * len(rows),
        "event_time": [T0 + dt.timedelta(minutes=r[1]) for r in rows],
        "is_fraud": pl.Series([0] * len(rows), dtype=pl.Int8),
    })
