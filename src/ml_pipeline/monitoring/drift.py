"""Data drift with pinned methods: a reference profiled once, any window scored against the cached profile.

One method per column kind, never chosen by sample size, so scores stored over time stay comparable:

- numeric → ``psi_quantile``: PSI over 10 bins cut at the reference's deciles (the unique inner cut points; the outer
  edges are -inf and +inf; bins closed on the right), plus a bin of its own for missing values (null or NaN), so a
  changed missing rate moves the score. The edges are the reference's: they never move with the current data.
- categorical (String, Categorical, Enum, Boolean) → ``psi_categorical``: PSI over the reference's categories, one
  ``__unseen__`` bin for every category the reference never had (its share is reported), and the missing bin.
- numeric, when a feature's levels say ``method: wasserstein`` → ``wasserstein_normed``: the Wasserstein-1 distance
  between the reference's and the window's quantile functions (101 quantiles, the reference's cached), in units of the
  reference's standard deviation. For smooth aggregates (a per-group rolling mean: a few tight clusters) whose PSI
  jumps between two stable days because a cluster crosses a decile edge; it weighs how *far* values moved.

PSI = Σ (c − r) · ln(c / r) over the bins, ``r`` and ``c`` the reference and current shares. Both are floored at
``EPSILON`` (1e-4) first, so a bin empty on one side gives a large but finite term; the floored shares are not
renormalised (each floored bin adds at most 1e-4). A constant reference column has one cut point, an all-missing one
none (a single bin for every value); both are scored like any other. Levels follow the credit-scoring convention:
below 0.1 stable, from 0.1 warn, from 0.25 alert; per feature in the model config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import polars as pl

from ml_pipeline.monitoring.drift_profile import (
    CATEGORICAL_TYPES,
    DECILES,
    METHODS,
    MISSING_LABEL,
    QUANTILES,
    UNSEEN,
    ColumnProfile,
    EmptyWindowError,
    Kind,
    ReferenceProfile,
    Serialised,
    as_float,
    kind_of,
    profile,
    profile_column,
    require_columns,
)

__all__ = ["CATEGORICAL_TYPES", "DECILES", "DEFAULT_THRESHOLDS", "METHODS", "MISSING_LABEL", "QUANTILES", "UNSEEN",
           "ColumnProfile", "DriftReport", "EmptyWindowError", "FeatureDrift", "Kind", "ReferenceProfile", "Thresholds",
           "compare", "kind_of", "profile", "profile_column", "psi", "wasserstein_normed"]

EPSILON = 1e-4
WASSERSTEIN = "wasserstein_normed"
NO_VALUES_SCORE = 10.0  # the window (or the reference) has no finite value at all: as far apart as it gets
STATUS_RANK = {"stable": 0, "warn": 1, "alert": 2}

Status = Literal["stable", "warn", "alert"]


@dataclass(frozen=True)
class Thresholds(Serialised):
    """Levels of a feature: below ``warn`` stable, from ``warn`` warn, from ``alert`` alert; and its method.

    ``method``: ``psi`` (the column kind's PSI) or ``wasserstein`` (numeric only: ``wasserstein_normed``).
    """

    warn: float = 0.1
    alert: float = 0.25
    method: str = "psi"

    def status(self, score: float) -> Status:
        """The level ``score`` reaches."""
        return "alert" if score >= self.alert else "warn" if score >= self.warn else "stable"


DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class FeatureDrift(Serialised):
    """One feature's drift: the score, its levels and status, and the shares per bin a chart draws."""

    feature: str
    method: str
    score: float
    warn: float
    alert: float
    status: Status
    reference_nan_rate: float
    current_nan_rate: float
    unseen_share: float | None  # categorical only: rows in categories the reference never had
    labels: tuple[str, ...]
    reference_shares: tuple[float, ...]
    current_shares: tuple[float, ...]


@dataclass(frozen=True)
class DriftReport:
    """Drift of every feature of a window against the reference, and the dataset-level verdict.

    Dataset drift (``drifted``) when the share of features at alert level reaches ``drift_share_threshold``.
    ``status``: alert when drifted; warn when a feature warns or alerts without dataset drift; stable otherwise.
    """

    features: list[FeatureDrift]
    reference_rows: int
    current_rows: int
    drift_share_threshold: float = 0.3

    @property
    def drift_share(self) -> float:
        """Share of the features at alert level."""
        return sum(f.status == "alert" for f in self.features) / len(self.features) if self.features else 0.0

    @property
    def drifted(self) -> bool:
        """Whether the share of alerting features reaches the threshold."""
        return bool(self.features) and self.drift_share >= self.drift_share_threshold

    @property
    def status(self) -> Status:
        """Alert when drifted; warn when any feature is above stable; else stable."""
        if self.drifted:
            return "alert"
        return "warn" if any(f.status != "stable" for f in self.features) else "stable"

    def top(self, n: int) -> list[FeatureDrift]:
        """The ``n`` most drifted features: highest status first, then highest score."""
        return sorted(self.features, key=lambda f: (STATUS_RANK[f.status], f.score), reverse=True)[:n]

    def describe(self) -> str:
        """One line per feature (feature, method, score, levels, status) and a verdict line."""
        width = max((len(f.feature) for f in self.features), default=7)
        lines = [f"{f.feature:<{width}}  {f.method:<15}  {f.score:8.4f}  warn {f.warn:g} / alert {f.alert:g}  "
                 f"{f.status}" for f in self.features]
        return "\n".join([*lines, f"verdict: {self.status}: {self.verdict()}"])

    def verdict(self) -> str:
        """The dataset-level verdict in one sentence, naming the features at alert (or warn) level."""
        alerting = [f.feature for f in self.features if f.status == "alert"]
        counted = (f"{len(alerting)} of {len(self.features)} features at alert level ({self.drift_share:.0%}; "
                   f"dataset drift from {self.drift_share_threshold:.0%})")
        if self.drifted:
            return f"dataset drift, {counted}: {', '.join(alerting)}"
        if self.status == "warn":
            named = ", ".join(f"{f.feature} ({f.status})" for f in self.top(len(self.features)) if f.status != "stable")
            return f"no dataset drift, {counted}; watch {named}"
        return f"every feature below its warn level ({self.current_rows} rows against {self.reference_rows})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, the derived verdict included."""
        return {"status": self.status, "drifted": self.drifted, "drift_share": self.drift_share,
                "drift_share_threshold": self.drift_share_threshold, "reference_rows": self.reference_rows,
                "current_rows": self.current_rows, "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DriftReport:
        """Rebuild from ``to_dict``'s output (the verdict is derived again)."""
        return cls([FeatureDrift.from_dict(f) for f in data["features"]], data["reference_rows"],
                   data["current_rows"], data["drift_share_threshold"])


def psi(reference: np.ndarray, current: np.ndarray) -> float:
    """Population stability index of two share vectors over the same bins, both floored at ``EPSILON``."""
    r, c = np.maximum(reference, EPSILON), np.maximum(current, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


def wasserstein_normed(column: ColumnProfile, series: pl.Series) -> float:
    """Wasserstein-1 distance of ``series``'s finite values to the reference's, in reference standard deviations.

    Both quantile functions are taken at the same 101 points, so the distance is their mean absolute difference.
    """
    values = as_float(series)
    finite = values[np.isfinite(values)]
    if not finite.size or not column.quantiles:
        return 0.0 if not finite.size and not column.quantiles else NO_VALUES_SCORE
    distance = float(np.mean(np.abs(np.quantile(finite, QUANTILES) - np.asarray(column.quantiles))))
    return min(distance / column.std, NO_VALUES_SCORE) if column.std > 0 else (0.0 if distance == 0 else
                                                                              NO_VALUES_SCORE)


def compare(reference: ReferenceProfile, current: pl.DataFrame,
            thresholds: Thresholds | dict[str, Thresholds] = DEFAULT_THRESHOLDS, drift_share: float = 0.3,
            default: Thresholds | None = None) -> DriftReport:
    """Score every profiled column of ``current`` against ``reference``.

    Args:
        reference: The reference's cached profile.
        current: The window to judge; it must hold every profiled column and at least one row.
        thresholds: One set of levels for every feature, or levels per feature.
        drift_share: Dataset drift when this share of the features (or more) is at alert level.
        default: Levels of a feature missing from a per-feature ``thresholds`` (else ``Thresholds()``).

    Returns:
        The report, one ``FeatureDrift`` per profiled column in the profile's order.
    """
    require_columns(current, list(reference.columns), "current")
    drifts = [_drift_of(column, current.get_column(name), _levels(thresholds, name, default))
              for name, column in reference.columns.items()]
    return DriftReport(drifts, reference.rows, current.height, drift_share)


def _drift_of(column: ColumnProfile, series: pl.Series, levels: Thresholds) -> FeatureDrift:
    mismatch = ValueError(f"column '{column.name}' is {column.kind} in the reference but {series.dtype} in the "
                          "current data; the two must hold the same kind of values")
    if kind_of(series.dtype) != column.kind:
        raise mismatch
    try:
        current = column.shares_of(series)
    except (pl.exceptions.InvalidOperationError, pl.exceptions.ComputeError) as exc:
        raise mismatch from exc
    method, score = column.method, psi(np.asarray(column.shares), current)
    if levels.method == "wasserstein":
        if column.kind != "numeric":
            raise ValueError(f"column '{column.name}' is categorical: method wasserstein applies to numeric features "
                             "only; use psi")
        method, score = WASSERSTEIN, wasserstein_normed(column, series)
    unseen = float(current[-2]) if column.kind == "categorical" else None
    return FeatureDrift(column.name, method, score, levels.warn, levels.alert, levels.status(score),
                        column.nan_rate, float(current[-1]), unseen, column.labels, column.shares,
                        tuple(current.tolist()))


def _levels(thresholds: Thresholds | dict[str, Thresholds], name: str, default: Thresholds | None) -> Thresholds:
    if isinstance(thresholds, Thresholds):
        return thresholds
    return thresholds.get(name) or default or DEFAULT_THRESHOLDS


