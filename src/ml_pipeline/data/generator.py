"""Seeded, realistic card-transaction data with learnable but noisy fraud (and the dataset dispatcher).

Fraud comes in three shapes seen in real card data: card-testing bursts (many
tiny online charges within minutes), amounts far above what the card usually
spends at risky merchants, and a share of fraud that looks almost normal so the
problem is never trivial. Legitimate traffic has its own noise (occasional big
purchases, travel abroad) so no single feature separates the classes. Days can be
drifted on purpose (``ml_pipeline.data.drift_scenarios``) from a chosen date on.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ml_pipeline.data.lake import join_uri, write_parquet

if TYPE_CHECKING:
    from ml_pipeline.data.drift_scenarios import DriftScenario

CATEGORIES = ("grocery", "gas", "restaurant", "pharmacy", "online_retail", "travel",
              "electronics", "jewelry", "gift_cards", "digital_goods", "crypto")
LEGIT_CATEGORY_P = (0.24, 0.14, 0.18, 0.07, 0.16, 0.05, 0.06, 0.02, 0.03, 0.04, 0.01)
REGIONS = ("us-east", "us-west", "eu-west", "eu-central", "apac", "latam", "africa")
TESTING_CATEGORIES = (4, 8, 9)  # online_retail, gift_cards, digital_goods
HIGH_VALUE_CATEGORIES = (5, 6, 7, 10)  # travel, electronics, jewelry, crypto
MERCHANTS_PER_CATEGORY = 60
ROWS_PER_FILE = 500_000
DAY_SECONDS = 86_400
DRIFT_STREAM = 1  # a drift scenario's random numbers never consume the day's own stream


@dataclass(frozen=True)
class CardPopulation:
    """Stable per-card traits shared by every generated day."""

    home_region: np.ndarray
    log_spend: np.ndarray
    activity: np.ndarray

    @property
    def size(self) -> int:
        """Number of cards."""
        return len(self.home_region)


def make_cards(n_cards: int, seed: int) -> CardPopulation:
    """Draw the card population; the same seed always gives the same cards."""
    rng = np.random.default_rng([seed, 0])
    activity = rng.gamma(shape=2.0, scale=1.0, size=n_cards)
    return CardPopulation(
        home_region=rng.choice(len(REGIONS), size=n_cards, p=(0.3, 0.2, 0.2, 0.12, 0.1, 0.05, 0.03)),
        log_spend=rng.normal(3.5, 0.6, size=n_cards),
        activity=activity / activity.sum(),
    )


def generate_day(day: dt.date, rows: int, seed: int = 42, fraud_rate: float = 0.015,
                 drift: DriftScenario | None = None) -> pl.DataFrame:
    """Generate one day of transactions (about ``rows`` rows), deterministic in (day, seed), drifted by ``drift``."""
    cards = make_cards(max(200, rows // 15), seed)
    rng = np.random.default_rng([seed, day.toordinal()])
    n_fraud = int(rows * fraud_rate)
    parts = [_legit(rng, cards, rows - n_fraud), _card_testing(rng, cards, int(n_fraud * 0.35)),
             _high_value(rng, cards, int(n_fraud * 0.40))]
    # a small day's card-testing bursts (3 at least) may exceed its share: no subtle fraud then (it was a crash)
    parts.append(_subtle(rng, cards, max(0, n_fraud - sum(len(p["card"]) for p in parts[1:]))))
    columns = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    if drift is not None:
        columns = drift.apply(np.random.default_rng([seed, day.toordinal(), DRIFT_STREAM]), columns)
    return _to_frame(day, columns)


def _legit(rng: np.random.Generator, cards: CardPopulation, n: int) -> dict[str, np.ndarray]:
    card = rng.choice(cards.size, size=n, p=cards.activity)
    hour = rng.choice(24, size=n, p=_diurnal())
    amount = np.exp(rng.normal(cards.log_spend[card], 0.55))
    big = rng.random(n) < 0.01  # legit big-ticket purchases
    amount[big] *= rng.uniform(3, 12, size=big.sum())
    abroad = rng.random(n) < 0.04
    region = np.where(abroad, rng.integers(0, len(REGIONS), n), cards.home_region[card])
    return {"card": card, "second": hour * 3600 + rng.integers(0, 3600, n), "amount": amount,
            "category": rng.choice(len(CATEGORIES), size=n, p=LEGIT_CATEGORY_P),
            "region": region, "fraud": np.zeros(n, dtype=np.int8)}


def _card_testing(rng: np.random.Generator, cards: CardPopulation, n: int) -> dict[str, np.ndarray]:
    burst_sizes = rng.integers(3, 9, size=max(1, n // 5))
    burst_sizes = burst_sizes[np.cumsum(burst_sizes) <= max(n, 3)] if n else burst_sizes[:0]
    card = np.repeat(rng.integers(0, cards.size, len(burst_sizes)), burst_sizes)
    start = np.repeat(rng.integers(0, DAY_SECONDS - 3600, len(burst_sizes)), burst_sizes)
    total = int(burst_sizes.sum())
    region = np.repeat(rng.integers(0, len(REGIONS), len(burst_sizes)), burst_sizes)
    gaps = rng.integers(20, 400, total)
    first = np.cumsum(burst_sizes) - burst_sizes
    within = gaps.cumsum() - np.repeat(gaps.cumsum()[first] - gaps[first], burst_sizes)
    return {"card": card, "second": start + within,
            "amount": rng.uniform(0.5, 6.0, total) * np.where(rng.random(total) < 0.15, 25, 1),
            "category": rng.choice(TESTING_CATEGORIES, size=total), "region": region,
            "fraud": np.ones(total, dtype=np.int8)}


def _high_value(rng: np.random.Generator, cards: CardPopulation, n: int) -> dict[str, np.ndarray]:
    card = rng.integers(0, cards.size, n)
    foreign = rng.random(n) < 0.55
    region = np.where(foreign, rng.integers(0, len(REGIONS), n), cards.home_region[card])
    return {"card": card, "second": rng.integers(0, DAY_SECONDS, n),
            "amount": np.exp(cards.log_spend[card]) * rng.uniform(2.5, 20, n),
            "category": rng.choice(HIGH_VALUE_CATEGORIES, size=n), "region": region,
            "fraud": np.ones(n, dtype=np.int8)}


def _subtle(rng: np.random.Generator, cards: CardPopulation, n: int) -> dict[str, np.ndarray]:
    card = rng.integers(0, cards.size, n)
    category = np.where(rng.random(n) < 0.5, rng.choice(HIGH_VALUE_CATEGORIES, size=n),
                        rng.choice(len(CATEGORIES), size=n, p=LEGIT_CATEGORY_P))
    return {"card": card, "second": rng.integers(0, DAY_SECONDS, n),
            "amount": np.exp(rng.normal(cards.log_spend[card] + 0.6, 0.7)), "category": category,
            "region": rng.integers(0, len(REGIONS), n), "fraud": np.ones(n, dtype=np.int8)}


def _diurnal() -> np.ndarray:
    hours = np.arange(24)
    weight = 0.25 + np.exp(-((hours - 13) ** 2) / 18) + 0.6 * np.exp(-((hours - 19) ** 2) / 8)
    return weight / weight.sum()


def _to_frame(day: dt.date, c: dict[str, np.ndarray]) -> pl.DataFrame:
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    merchant = c["category"] * MERCHANTS_PER_CATEGORY + (c["card"] * 7919 + c["second"]) % MERCHANTS_PER_CATEGORY
    frame = pl.DataFrame({
        "card": c["card"].astype(np.int64),
        "merchant": merchant.astype(np.int64),
        "merchant_category": np.asarray(CATEGORIES)[c["category"]],
        "amount": np.round(c["amount"], 2),
        "region": np.asarray(REGIONS)[c["region"]],
        "offset_us": c["second"].astype(np.int64) * 1_000_000,
        "is_fraud": c["fraud"],
    })
    frame = frame.with_columns(
        pl.format("card-{}", pl.col("card").cast(pl.String).str.zfill(7)).alias("card_id"),
        pl.format("m-{}", pl.col("merchant").cast(pl.String).str.zfill(5)).alias("merchant_id"),
        (pl.lit(midnight) + pl.duration(microseconds=pl.col("offset_us"))).alias("event_time"),
    ).sort("event_time", "card_id", "amount")
    ids = pl.format("tx-{}-{}", pl.lit(day.strftime("%Y%m%d")),
                    pl.int_range(pl.len()).cast(pl.String).str.zfill(8))
    return frame.with_columns(ids.alias("transaction_id")).select(SCHEMA_ORDER)


SCHEMA_ORDER = ("transaction_id", "card_id", "merchant_id", "merchant_category", "amount",
                "region", "event_time", "is_fraud")


def write_day(frame: pl.DataFrame, dataset_uri: str, day: dt.date) -> list[str]:
    """Write one day's frame as ``<dataset>/<YYYY-MM-DD>/part-NNNNN.parquet`` files."""
    folder = join_uri(dataset_uri, day.isoformat())
    return [write_parquet(frame.slice(offset, ROWS_PER_FILE), join_uri(folder, f"part-{i:05d}.parquet"))
            for i, offset in enumerate(range(0, max(len(frame), 1), ROWS_PER_FILE))]


def generate_dataset(dataset_uri: str, end_date: dt.date, days: int, rows_per_day: int,
                     seed: int = 42, kind: str = "transactions", drift: str | None = None,
                     drift_from: dt.date | None = None) -> list[str]:
    """Generate ``days`` daily partitions of ``kind`` ending at ``end_date``; return the written file URIs.

    With ``drift`` (a scenario of ``ml_pipeline.data.drift_scenarios``), days on or after ``drift_from`` (every
    day when None) are drifted; earlier days are what they would be without it.
    """
    from ml_pipeline.data.drift_scenarios import scenario_named
    from ml_pipeline.data.impressions import generate_impressions_day

    if rows_per_day < 1 or days < 1:  # 0 rows would overwrite each day's files with empty ones
        raise ValueError(f"rows_per_day ({rows_per_day}) and days ({days}) must be at least 1; nothing was written")
    make_day = {"transactions": generate_day, "impressions": generate_impressions_day}[kind]
    scenario = scenario_named(drift) if drift else None
    if scenario is not None and kind != "transactions":
        raise ValueError(f"drift scenarios exist for transactions only, not {kind}")
    written: list[str] = []
    for offset in range(days - 1, -1, -1):
        day = end_date - dt.timedelta(days=offset)
        drifted = scenario is not None and (drift_from is None or day >= drift_from)
        frame = generate_day(day, rows_per_day, seed, drift=scenario) if drifted else make_day(day, rows_per_day, seed)
        written += write_day(frame, dataset_uri, day)
    return written
