"""Named feature functions: the only code a model needs, and only for derived features.

A model's config lists feature names. Raw columns of its data pass straight to the
model; a name that a registered function produces selects that function (or the
config names functions explicitly in ``data.feature_functions``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import polars as pl

from ml_pipeline.features.fraud import REQUIRED_COLUMNS, WINDOW_FEATURES, engineer_fraud_features


@dataclass(frozen=True)
class FeatureFunction:
    """A frame-to-frame function and the columns it adds."""

    name: str
    function: Callable[[pl.DataFrame], pl.DataFrame]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


FEATURE_FUNCTIONS: dict[str, FeatureFunction] = {
    f.name: f for f in (FeatureFunction("card_windows", engineer_fraud_features, REQUIRED_COLUMNS, WINDOW_FEATURES),)
}


def functions_for(features: Iterable[str], explicit: Iterable[str] | None = None) -> list[FeatureFunction]:
    """The functions to run: those named explicitly, else those producing any requested feature."""
    if explicit is not None:
        unknown = sorted(set(explicit) - set(FEATURE_FUNCTIONS))
        if unknown:
            raise KeyError(f"unknown feature function(s) {', '.join(unknown)}; known: {', '.join(FEATURE_FUNCTIONS)}")
        return [FEATURE_FUNCTIONS[name] for name in explicit]
    wanted = set(features)
    return [f for f in FEATURE_FUNCTIONS.values() if wanted & set(f.outputs)]


def required_input_columns(features: Iterable[str], explicit: Iterable[str] | None = None) -> list[str]:
    """Columns the raw data must have: raw features plus the inputs of the feature functions used."""
    functions = functions_for(features, explicit)
    derived = {column for f in functions for column in f.outputs}
    needed = [c for c in features if c not in derived] + [c for f in functions for c in f.inputs]
    return list(dict.fromkeys(needed))


def build_features(frame: pl.DataFrame, features: Iterable[str], explicit: Iterable[str] | None = None) -> pl.DataFrame:
    """Apply the feature functions the model needs; raw columns are left as they are."""
    for feature_function in functions_for(features, explicit):
        frame = feature_function.function(frame)
    return frame
