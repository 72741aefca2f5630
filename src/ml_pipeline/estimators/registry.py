"""The estimators a config's ``model_type`` can name: adding one is a module beside this one and a line here.

Importing this module imports no model library (each estimator imports its own inside its methods), so
``check-config`` and the DAG files read the list of model types for free.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator

from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators.base import Estimator
from ml_pipeline.estimators.lightgbm import LightGBMEstimator
from ml_pipeline.estimators.xgboost import XGBoostEstimator

ESTIMATORS: dict[str, Estimator] = {
    "lightgbm": LightGBMEstimator(),
    "xgboost": XGBoostEstimator(),
}
DEFAULT_MODEL_TYPE = "xgboost"  # what a config without model_type trains, and what older logged models are


class UnknownModelTypeError(PermanentError, ValueError):
    """A ``model_type`` no registered estimator answers to."""


def model_types() -> list[str]:
    """The ``model_type`` values a config may use, sorted."""
    return sorted(ESTIMATORS)


def get_estimator(model_type: str) -> Estimator:
    """The estimator registered as ``model_type``.

    Raises:
        UnknownModelTypeError: No estimator is registered under that name; the message lists the choices.
    """
    try:
        return ESTIMATORS[model_type]
    except KeyError:
        raise UnknownModelTypeError(f"unknown model_type {model_type!r}: expected one of "
                                    f"{', '.join(model_types())}") from None


def check_model_type(model_type: str) -> str:
    """``model_type`` itself when an estimator is registered under it (a pydantic validator)."""
    get_estimator(model_type)
    return model_type


def preload_modules() -> list[str]:
    """What every registered estimator's task processes import, once each, in registry order."""
    return list(dict.fromkeys(module for estimator in ESTIMATORS.values()
                               for module in estimator.preload_modules))


ModelType = Annotated[str, AfterValidator(check_model_type)]
