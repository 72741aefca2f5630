"""Train an XGBoost classifier on a feature table, deterministically."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from xgboost import XGBClassifier

from ml_pipeline.data.validator import require_columns


def to_model_input(frame: pl.DataFrame, features: Sequence[str]):
    """The pandas frame the model consumes: exactly ``features``, in order."""
    require_columns(frame, features, where="model input")
    return frame.select(features).to_pandas()


def build_classifier(frame: pl.DataFrame, features: Sequence[str],
                     hyperparameters: Mapping[str, Any], seed: int, n_jobs: int = 2, device: str = "cpu") -> Pipeline:
    """An untrained pipeline: ordinal-encode string features, then XGBoost on ``device`` (cpu or cuda)."""
    categorical = [f for f in features if frame.schema[f] == pl.String]
    encoder = ColumnTransformer(
        [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                        encoded_missing_value=-1), categorical)],
        remainder="passthrough", verbose_feature_names_out=False,
    )
    params = {"tree_method": "hist", "eval_metric": "auc", **hyperparameters,
              "random_state": seed, "n_jobs": n_jobs, "device": device}
    return Pipeline([("encode", encoder), ("classifier", XGBClassifier(**params))])


def train_classifier(train: pl.DataFrame, features: Sequence[str], target: str,
                     hyperparameters: Mapping[str, Any], seed: int, n_jobs: int = 2, device: str = "cpu") -> Pipeline:
    """Fit the classifier on ``train``; the same inputs always give the same model."""
    require_columns(train, [*features, target], where="training data")
    if train[target].n_unique() < 2:
        raise ValueError(f"training data has a single class in '{target}': cannot train a classifier")
    model = build_classifier(train, features, hyperparameters, seed, n_jobs, device)
    model.fit(to_model_input(train, features), train[target].to_numpy())
    if device != "cpu":  # trained on a GPU, served anywhere: predict on the CPU unless told otherwise
        model.named_steps["classifier"].set_params(device="cpu")
    return model
