"""Seeded recommendation impressions: which shown item a user clicked.

Click-through depends on the slot position, the user's taste for the item's
category, the device and the hour, plus noise, at a click rate of about 5 %.
Every feature is a raw column, so the recommendation model needs no feature code.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

ITEM_CATEGORIES = ("news", "sports", "music", "movies", "games", "fashion", "food", "travel")
DEVICES = ("mobile", "desktop", "tablet")
SEGMENTS = ("new", "casual", "regular", "power")
N_ITEMS = 2_000


def generate_impressions_day(day: dt.date, rows: int, seed: int = 42) -> pl.DataFrame:
    """One day of impressions (exactly ``rows`` rows), deterministic in (day, seed)."""
    users = max(100, rows // 20)
    taste = np.random.default_rng([seed, 1]).dirichlet(np.full(len(ITEM_CATEGORIES), 0.4), size=users)
    item_category = np.random.default_rng([seed, 2]).integers(0, len(ITEM_CATEGORIES), N_ITEMS)
    item_quality = np.random.default_rng([seed, 3]).normal(0, 0.6, N_ITEMS)
    rng = np.random.default_rng([seed, 10, day.toordinal()])
    user, item = rng.integers(0, users, rows), rng.integers(0, N_ITEMS, rows)
    position, device = rng.integers(1, 11, rows), rng.choice(len(DEVICES), rows, p=(0.6, 0.3, 0.1))
    second = rng.integers(0, 86_400, rows)
    segment = user % len(SEGMENTS)
    logit = (-3.3 - 0.18 * (position - 1) + 3.0 * taste[user, item_category[item]] + item_quality[item]
             + np.array([0.2, -0.3, 0.0])[device] + 0.25 * segment - 0.3 * ((second // 3600) < 6))
    clicked = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    frame = pl.DataFrame({
        "user": user, "item": item, "position": position.astype(np.int32),
        "item_category": np.asarray(ITEM_CATEGORIES)[item_category[item]],
        "device": np.asarray(DEVICES)[device], "user_segment": np.asarray(SEGMENTS)[segment],
        "hour_of_day": (second // 3600).astype(np.int32), "offset_s": second, "clicked": clicked,
    })
    return frame.with_columns(
        pl.format("u-{}", pl.col("user")).alias("user_id"),
        pl.format("i-{}", pl.col("item")).alias("item_id"),
        (pl.lit(midnight) + pl.duration(seconds=pl.col("offset_s"))).alias("event_time"),
    ).sort("event_time").with_columns(
        pl.format("imp-{}-{}", pl.lit(day.strftime("%Y%m%d")), pl.int_range(pl.len())).alias("impression_id"),
    ).select("impression_id", "user_id", "item_id", "item_category", "position", "device", "user_segment",
             "hour_of_day", "event_time", "clicked")
