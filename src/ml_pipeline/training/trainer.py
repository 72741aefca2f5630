"""Train the classifier a config's ``model_type`` names on a feature table, deterministically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sklearn.pipeline import Pipeline

from ml_pipeline.data.validator import require_columns
from ml_pipeline.estimators.registry import DEFAULT_MODEL_TYPE, get_estimator


def to_model_input(frame: pl.DataFrame, features: Sequence[str]):
    """The pandas frame the model consumes: exactly ``features``, in order."""
    require_columns(frame, features, where="model input")
    return frame.select(features).to_pandas()


def train_classifier(train: pl.DataFrame, features: Sequence[str], target: str,
                     hyperparameters: Mapping[str, Any], seed: int, n_jobs: int = 2, device: str = "cpu",
                     model_type: str = DEFAULT_MODEL_TYPE) -> Pipeline:
    """Fit ``model_type``'s classifier on ``train``; the same inputs always give the same model.

    Raises:
        ValueError: ``train`` lacks a column, or its target has a single class.
    """
    require_columns(train, [*features, target], where="training data")
    if train[target].n_unique() < 2:
        raise ValueError(f"training data has a single class in '{target}': cannot train a classifier")
    estimator = get_estimator(model_type)
    model = estimator.build(train, features, hyperparameters, seed, n_jobs, device)
    model.fit(to_model_input(train, features), train[target].to_numpy())
    return estimator.for_serving(model, device)
