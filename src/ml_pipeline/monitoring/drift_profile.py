"""The reference's profile of each monitored column: bins cut once (numeric deciles, categories), shares, quantiles.

Computed once per model version and cached as JSON; ``drift`` scores any window against it. Also where a frame is
checked before it is profiled or judged (its columns, at least one row).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np
import polars as pl

from ml_pipeline.errors import PermanentError

DECILES = np.arange(1, 10) / 10  # exact tenths: linspace puts 0.3 one ulp above, which moves a cut point
UNSEEN = "__unseen__"
MISSING_LABEL = "NaN"
METHODS = {"numeric": "psi_quantile", "categorical": "psi_categorical"}
QUANTILES = np.linspace(0.0, 1.0, 101)
CATEGORICAL_TYPES = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)
Kind = Literal["numeric", "categorical"]


class EmptyWindowError(PermanentError, ValueError):
    """A frame to profile or judge has no rows: there is nothing to compare."""


class Serialised:
    """``to_dict``/``from_dict`` of a frozen dataclass whose tuple fields travel as JSON lists."""

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values (tuples become lists)."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Rebuild from ``to_dict``'s output (lists become tuples again; a field it lacks keeps its default)."""
        return cls(**{f.name: tuple(v) if isinstance(v := data[f.name], list) else v for f in fields(cls)
                      if f.name in data})


@dataclass(frozen=True)
class ColumnProfile(Serialised):
    """One reference column: its bins (numeric ``edges`` or ``categories``), their labels and shares.

    ``shares`` has one entry per label: the value bins, then (categorical only) ``__unseen__``, then the missing bin.
    """

    name: str
    kind: Kind
    method: str
    edges: tuple[float, ...]
    categories: tuple[str, ...]
    labels: tuple[str, ...]
    shares: tuple[float, ...]
    nan_rate: float
    rows: int
    quantiles: tuple[float, ...] = ()  # numeric: the finite values' 0th, 1st, …, 100th percentiles
    std: float = 0.0  # numeric: the finite values' standard deviation

    def shares_of(self, series: pl.Series) -> np.ndarray:
        """The shares of ``series``'s rows in this profile's bins."""
        counts = _category_counts(series, self.categories) if self.kind == "categorical" else _numeric_counts(
            as_float(series), np.asarray(self.edges, dtype=np.float64))
        return counts / max(len(series), 1)


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference's profile of every monitored column; computed once per model version and cached as JSON."""

    columns: dict[str, ColumnProfile]
    rows: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"rows": self.rows, "columns": {name: c.to_dict() for name, c in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceProfile:
        """Rebuild from ``to_dict``'s output."""
        return cls({name: ColumnProfile.from_dict(c) for name, c in data["columns"].items()}, data["rows"])


def kind_of(dtype: pl.DataType) -> Kind:
    """The kind a polars type is profiled as: String, Categorical, Enum and Boolean are categorical."""
    return "categorical" if isinstance(dtype, CATEGORICAL_TYPES) else "numeric"


def profile(frame: pl.DataFrame, columns: list[str]) -> ReferenceProfile:
    """Profile ``columns`` of the reference ``frame``; the kind of each column comes from its polars type."""
    require_columns(frame, columns, "reference")
    return ReferenceProfile({name: profile_column(frame.get_column(name)) for name in columns}, frame.height)


def profile_column(series: pl.Series) -> ColumnProfile:
    """The bins, labels and shares of one reference column."""
    kind = kind_of(series.dtype)
    if kind == "categorical":
        text = series.cast(pl.String)
        edges, categories = (), tuple(sorted(text.drop_nulls().unique().to_list()))
        labels, counts = (*categories, UNSEEN, MISSING_LABEL), _category_counts(text, categories)
    else:
        values = as_float(series)
        finite = values[np.isfinite(values)]
        cuts = np.unique(np.quantile(finite, DECILES, method="inverted_cdf")) if finite.size else np.empty(0)
        edges, categories = tuple(cuts.tolist()), ()
        labels, counts = (*_interval_labels(cuts), MISSING_LABEL), _numeric_counts(values, cuts)
        spread = (tuple(np.quantile(finite, QUANTILES).tolist()), float(finite.std())) if finite.size else ((), 0.0)
    shares = counts / max(len(series), 1)
    return ColumnProfile(series.name, kind, METHODS[kind], edges, categories, labels, tuple(shares.tolist()),
                         float(shares[-1]), len(series), *(spread if kind == "numeric" else ((), 0.0)))


def require_columns(frame: pl.DataFrame, columns: list[str], what: str) -> None:
    """Raise ``ValueError`` naming the columns ``frame`` lacks, ``EmptyWindowError`` when it has no rows."""
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise ValueError(f"the {what} data has no column(s) {', '.join(missing)} (present: "
                         f"{', '.join(frame.columns)}); compute the model's features before judging drift")
    if frame.height == 0:
        raise EmptyWindowError(f"the {what} data has no rows: there is nothing to judge drift on")


def as_float(series: pl.Series) -> np.ndarray:
    """The values as float64, missing ones (null or NaN) as NaN."""
    return series.to_physical().cast(pl.Float64, strict=True).to_numpy()


def _numeric_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows per right-closed bin between ``edges`` (-inf/+inf outside), then the missing rows."""
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="left"), minlength=len(edges) + 1)
    return np.append(counts, missing.sum()).astype(np.float64)


def _category_counts(series: pl.Series, categories: tuple[str, ...]) -> np.ndarray:
    """Rows per reference category, then in unseen categories, then missing."""
    counted = series.cast(pl.String).value_counts(name="n")
    by_value = dict(zip(counted[series.name].to_list(), counted["n"].to_list(), strict=True))
    missing = by_value.pop(None, 0)
    known = [by_value.pop(category, 0) for category in categories]
    return np.array([*known, sum(by_value.values()), missing], dtype=np.float64)


def _interval_labels(edges: np.ndarray) -> list[str]:
    """Labels of the bins right-closed at ``edges``: "≤ a", "a–b", …, "> z" (one "all values" without edges)."""
    if not len(edges):
        return ["all values"]
    text = [f"{edge:.5g}" for edge in edges]
    return [f"≤ {text[0]}", *(f"{a}–{b}" for a, b in zip(text, text[1:], strict=False)), f"> {text[-1]}"]
