"""Drift scenarios for the transaction generator: a covariate shift, a changed category mix, concept drift.

A scenario rewrites one generated day's raw columns (before they become a frame) with a random stream of its own,
so a day without a scenario is exactly what the generator gives today, and a drifted day differs from it only by
the scenario's change. The monitoring demo and tests use them to make drift happen on purpose:

- ``amount-inflation``: every amount ×1.8 (covariate shift: the amount features alert, the fraud logic is unchanged).
- ``category-mix``: 40 % of legitimate transactions move to online retail, electronics, digital goods and crypto.
- ``fraud-pattern``: concept drift. The inputs keep their distribution; only the labels change: 80 % of the rows of
  the old fraud patterns become legitimate, and as many ordinary-looking gas-station and pharmacy charges become
  fraud. No input drifts, so only the live performance (AUC) of a model trained before it catches it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ml_pipeline.data.generator import CATEGORIES

Columns = dict[str, np.ndarray]
AMOUNT_FACTOR = 1.8
MOVED_SHARE = 0.4
SHIFTED_CATEGORIES = tuple(CATEGORIES.index(c) for c in ("online_retail", "electronics", "digital_goods", "crypto"))
RELABELLED_SHARE = 0.8
NEW_FRAUD_CATEGORIES = tuple(CATEGORIES.index(c) for c in ("gas", "pharmacy"))


@dataclass(frozen=True)
class DriftScenario:
    """A named change applied to a generated day's raw columns."""

    name: str
    description: str
    apply: Callable[[np.random.Generator, Columns], Columns]


def inflate_amounts(rng: np.random.Generator, columns: Columns) -> Columns:
    """Every amount ×1.8, legitimate and fraudulent alike."""
    return {**columns, "amount": columns["amount"] * AMOUNT_FACTOR}


def shift_category_mix(rng: np.random.Generator, columns: Columns) -> Columns:
    """Move 40 % of the legitimate rows to online retail, electronics, digital goods and crypto (evenly)."""
    moved = (columns["fraud"] == 0) & (rng.random(len(columns["fraud"])) < MOVED_SHARE)
    category = columns["category"].copy()
    category[moved] = rng.choice(SHIFTED_CATEGORIES, size=int(moved.sum()))
    return {**columns, "category": category}


def change_fraud_pattern(rng: np.random.Generator, columns: Columns) -> Columns:
    """Relabel 80 % of the fraud as legitimate and as many legitimate gas and pharmacy charges as fraud."""
    fraud = columns["fraud"].copy()
    old = np.flatnonzero(fraud == 1)
    relabelled = rng.choice(old, size=int(len(old) * RELABELLED_SHARE), replace=False)
    ordinary = np.flatnonzero((fraud == 0) & np.isin(columns["category"], NEW_FRAUD_CATEGORIES))
    fraud[relabelled] = 0
    fraud[rng.choice(ordinary, size=min(len(relabelled), len(ordinary)), replace=False)] = 1
    return {**columns, "fraud": fraud}


SCENARIOS: dict[str, DriftScenario] = {s.name: s for s in (
    DriftScenario("amount-inflation", "covariate shift: every amount ×1.8", inflate_amounts),
    DriftScenario("category-mix", "40 % of legitimate spending moves to online retail, electronics, digital goods "
                                  "and crypto", shift_category_mix),
    DriftScenario("fraud-pattern", "concept drift: same inputs, most old fraud now legitimate, new fraud at gas "
                                   "stations and pharmacies", change_fraud_pattern),
)}


def scenario_named(name: str) -> DriftScenario:
    """The scenario called ``name``; ``ValueError`` naming the known ones otherwise."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown drift scenario '{name}'; known: {', '.join(SCENARIOS)}")
    return SCENARIOS[name]
