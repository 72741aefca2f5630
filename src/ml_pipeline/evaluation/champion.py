"""The champion's score on a challenger's holdout: the one comparison both training and deployment make."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Protocol, TypedDict

import numpy as np

from ml_pipeline.evaluation.metrics import classification_metrics

log = logging.getLogger(__name__)
RECORDED_AUC_TAG = "holdout_auc"  # set on each version when it is registered (its training holdout's AUC)


class RegisteredVersion(Protocol):
    """What is read of a registered model version (MLflow's ``ModelVersion`` has it)."""

    version: str
    run_id: str
    tags: Mapping[str, str]


class ChampionScore(TypedDict):
    """The champion's version, run and AUC on the challenger's holdout."""

    version: str
    run_id: str
    auc: float


def score_champion(champion: RegisteredVersion, scores: Callable[[], np.ndarray], y: np.ndarray) -> ChampionScore:
    """The champion's AUC on the rows the challenger is judged on, so that both are judged on the same data.

    Args:
        champion: The version that carries the ``champion`` alias.
        scores: Loads the champion and returns its scores for the holdout's rows (called once).
        y: The holdout's labels.

    Returns:
        The champion's version, run and AUC. When it cannot score these rows (``KeyError`` or ``ValueError``: it was
        trained on other features, or its model type is not installed here), the AUC recorded when it was
        registered (0.0 without one): that is all there is to compare with.
    """
    try:
        auc = classification_metrics(y, scores()).auc
    except (KeyError, ValueError) as exc:
        log.warning("champion v%s cannot score this holdout (%s): using its recorded AUC", champion.version, exc)
        auc = float(champion.tags.get(RECORDED_AUC_TAG, 0.0))
    return {"version": champion.version, "run_id": champion.run_id, "auc": auc}
