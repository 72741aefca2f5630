"""Holdout metrics and the promotion decision."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score


@dataclass(frozen=True)
class ClassificationMetrics:
    """Binary-classification metrics on a holdout set."""

    auc: float
    precision: float
    recall: float
    f1: float
    rows: int
    positive_rate: float

    def as_dict(self) -> dict[str, float]:
        """Plain dict, for XCom and MLflow."""
        return asdict(self)


def classification_metrics(y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> ClassificationMetrics:
    """AUC from scores; precision, recall and F1 at ``threshold``."""
    if len(np.unique(y_true)) < 2:
        raise ValueError("holdout has a single class: AUC is undefined; use more days of data")
    predicted = (scores >= threshold).astype(int)
    return ClassificationMetrics(
        auc=float(roc_auc_score(y_true, scores)),
        precision=float(precision_score(y_true, predicted, zero_division=0)),
        recall=float(recall_score(y_true, predicted, zero_division=0)),
        f1=float(f1_score(y_true, predicted, zero_division=0)),
        rows=int(len(y_true)),
        positive_rate=float(np.mean(y_true)),
    )


def promotion_decision(challenger_auc: float, champion_auc: float | None, min_auc: float,
                       min_improvement: float = 0.0) -> dict:
    """Whether the challenger becomes champion, and why (which gate missed by how much)."""
    passes = challenger_auc >= min_auc
    needed = None if champion_auc is None else champion_auc + min_improvement
    beats = needed is None or (challenger_auc > champion_auc and challenger_auc >= needed)
    if not passes:
        reason = f"auc {challenger_auc:.4f} is below min_auc_threshold {min_auc:.4f} by {min_auc - challenger_auc:.4f}"
    elif not beats:
        margin = f" + margin {min_improvement:.4f}" if min_improvement else ""
        reason = (f"auc {challenger_auc:.4f} does not beat the champion's {champion_auc:.4f}{margin} "
                  f"(short by {max(needed - challenger_auc, 0.0):.4f})")
    else:
        reason = "first model" if champion_auc is None else f"beats champion auc {champion_auc:.4f}"
    return {"promote": passes and beats, "passes_threshold": passes, "beats_champion": beats, "reason": reason,
            "challenger_auc": challenger_auc, "champion_auc": champion_auc, "min_auc_threshold": min_auc,
            "min_auc_improvement": min_improvement}
