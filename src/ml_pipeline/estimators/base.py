"""What every estimator gives the platform: its model, its device, and how MLflow logs, loads and preloads it.

An estimator is what a config's ``model_type`` names. It builds the untrained model from the config's
hyperparameters (every estimator behind the same ordinal encoding of string features, so any of them reads the
same feature table), says which device it trains on, and tells MLflow which pip packages to record and which
types skops may load. Its library is imported inside its methods only: the registry is read by ``check-config``
and by every DAG file, which must not pay for importing XGBoost or LightGBM.
"""

from __future__ import annotations

import difflib
import importlib.metadata
from abc import ABC, abstractmethod
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from ml_pipeline.errors import PermanentError
from ml_pipeline.training.resources import Device, DeviceChoice, DeviceUnavailableError

if TYPE_CHECKING:
    import polars as pl
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline


def string_encoder(frame: pl.DataFrame, features: Sequence[str]) -> ColumnTransformer:
    """Ordinal-encode the string features (unseen or missing values as -1); pass the others through."""
    import polars as pl
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import OrdinalEncoder

    categorical = [f for f in features if frame.schema[f] == pl.String]
    return ColumnTransformer(
        [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                        encoded_missing_value=-1), categorical)],
        remainder="passthrough", verbose_feature_names_out=False,
    )


HYPERPARAMETERS = "training.hyperparameters"
# what the platform sets itself, whatever the config says: a config's value would be silently overridden
SET_BY_THE_PLATFORM = {"random_state": "training.seed", "seed": "training.seed",
                       "n_jobs": "the environment's ML_TRAIN_THREADS (default 2)",
                       "device": "training.device"}


class InvalidHyperparametersError(PermanentError, ValueError):
    """``training.hyperparameters`` names a parameter the estimator does not know, or a value it refuses."""


def trial_data() -> tuple[Any, Any]:
    """32 rows of two numeric features and a balanced 0/1 label: enough for a one-tree fit to check parameters."""
    import numpy as np

    rng = np.random.default_rng(0)
    return rng.normal(size=(32, 2)), np.arange(32) % 2


def unknown_parameters(names: Collection[str], known: Collection[str], label: str) -> str:
    """The message for ``names`` that ``label`` does not take, with the closest known names."""
    guesses = {name: difflib.get_close_matches(name, known, n=1, cutoff=0.7) for name in names}
    listed = ", ".join(f"{name} (did you mean {guess[0]}?)" if guess else name for name, guess in guesses.items())
    return (f"field '{HYPERPARAMETERS}': {listed}: not a parameter of {label}, so training would ignore it; fix "
            "the name or remove it")


class Estimator(ABC):
    """One ``model_type``: a binary classifier library behind the platform's training, logging and serving.

    Attributes:
        name: The ``model_type`` a config names it by.
        label: The library's name in messages (``XGBoost``).
        distributions: The pip distributions that may provide the library, preferred first; the installed one is
            recorded in the model's pip requirements and lineage.
        trusted_types: The non-scikit-learn types a trained pipeline holds: skops loads nothing else.
        preload_modules: What a process that tasks fork from imports ahead, so a training task does not.
        supports_gpu: Whether ``training.device: gpu`` can ever be met (``check-config`` refuses it otherwise).
    """

    name: ClassVar[str]
    label: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]
    trusted_types: ClassVar[tuple[str, ...]]
    preload_modules: ClassVar[tuple[str, ...]]
    supports_gpu: ClassVar[bool] = False

    @abstractmethod
    def classifier(self, hyperparameters: Mapping[str, Any], seed: int, n_jobs: int, device: str) -> Any:
        """The untrained classifier for ``hyperparameters``; ``seed``, ``n_jobs`` and ``device`` always win."""

    def build(self, frame: pl.DataFrame, features: Sequence[str], hyperparameters: Mapping[str, Any], seed: int,
              n_jobs: int = 2, device: str = "cpu") -> Pipeline:
        """An untrained pipeline: ordinal-encode string features, then this estimator's classifier."""
        from sklearn.pipeline import Pipeline

        return Pipeline([("encode", string_encoder(frame, features)),
                         ("classifier", self.classifier(hyperparameters, seed, n_jobs, device))])

    def check_hyperparameters(self, hyperparameters: Mapping[str, Any]) -> None:
        """Refuse, before any data is read, what training would ignore, override or fail on.

        ``check-config`` and the first step of every training run call it; the library is imported (a second or so
        when it is not already).

        Raises:
            InvalidHyperparametersError: The message names the parameter and the fix.
        """
        for name, owner in SET_BY_THE_PLATFORM.items():
            if name in hyperparameters:
                raise InvalidHyperparametersError(f"field '{HYPERPARAMETERS}.{name}': the platform sets it from "
                                                  f"{owner}; remove it")
        trees = hyperparameters.get("n_estimators", 1)
        if isinstance(trees, bool) or not isinstance(trees, int) or trees < 1:
            raise InvalidHyperparametersError(f"field '{HYPERPARAMETERS}.n_estimators': {trees!r} is not a number "
                                              "of trees: write a whole number of at least 1")
        problem = self.hyperparameter_problem(hyperparameters)
        if problem:
            raise InvalidHyperparametersError(problem)

    def hyperparameter_problem(self, hyperparameters: Mapping[str, Any]) -> str | None:
        """What the library says of ``hyperparameters`` (an unknown name, a value out of range), or None."""
        return None

    def choose_device(self, requested: Device) -> DeviceChoice:
        """Resolve ``training.device`` on this worker; by default the estimator trains on the CPU only.

        Raises:
            DeviceUnavailableError: ``training.device`` is ``gpu``.
        """
        if requested == "gpu":
            raise DeviceUnavailableError(
                f"training.device is gpu but model_type {self.name} trains on the CPU only; set training.device "
                "to cpu or auto")
        return DeviceChoice("cpu", f"training.device is {requested}: {self.label} trains on the CPU only")

    def for_serving(self, model: Pipeline, device: str) -> Pipeline:
        """The trained ``model`` made ready to predict anywhere (a GPU-trained one moved to the CPU)."""
        return model

    def distribution(self) -> str:
        """The installed pip distribution of the library.

        Raises:
            RuntimeError: None of ``distributions`` is installed.
        """
        for name in self.distributions:
            try:
                importlib.metadata.version(name)
                return name
            except importlib.metadata.PackageNotFoundError:
                continue
        raise RuntimeError(f"{self.label} is not installed (model_type {self.name} needs one of "
                           f"{', '.join(self.distributions)}): run `make install`")

    def pip_requirements(self) -> list[str]:
        """The library pinned as installed, for the model's MLflow environment."""
        name = self.distribution()
        return [f"{name}=={importlib.metadata.version(name)}"]
