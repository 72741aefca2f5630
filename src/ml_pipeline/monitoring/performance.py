"""Live performance: how a served model does on labels that landed after it was trained.

One judgement for two callers: the monitoring DAG (decay of the champion against its own holdout AUC) and the
deployment DAG's watch after a promotion (the new champion against a floor). Both score the same way, so a
"decayed" in one never disagrees with the other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LiveMetrics:
    """Metrics of served scores on labels that landed later, and the verdict against the baseline.

    ``status``: ``ok``; ``decayed`` (AUC below ``baseline_auc - max_auc_drop``, or below ``min_auc``); ``too_few``
    (fewer labelled rows than needed, or a single class: not judged).
    """

    rows: int
    positives: int
    auc: float | None
    precision: float | None
    recall: float | None
    baseline_auc: float | None
    floor: float | None
    status: str
    reason: str

    @property
    def decayed(self) -> bool:
        """Whether the model does worse live than allowed."""
        return self.status == "decayed"

    def to_dict(self) -> dict:
        """Plain JSON-able data."""
        return asdict(self)


def judge_live(labels: np.ndarray, scores: np.ndarray, *, min_rows: int, baseline_auc: float | None = None,
               max_auc_drop: float | None = None, min_auc: float | None = None) -> LiveMetrics:
    """Judge ``scores`` against ``labels``: decayed when the AUC is under the floor.

    The floor is ``baseline_auc - max_auc_drop`` (monitoring's decay) and/or ``min_auc`` (the watch's minimum),
    the higher of the two. With fewer than ``min_rows`` labelled rows, or one class only, nothing is judged.

    Args:
        labels: 0/1 labels of the rows.
        scores: The model's positive-class probabilities for the same rows.
        min_rows: Labelled rows needed to judge.
        baseline_auc: The AUC the model had on its holdout (decay is measured from it).
        max_auc_drop: How far under ``baseline_auc`` the live AUC may fall.
        min_auc: An absolute floor.
    """
    from ml_pipeline.evaluation.metrics import classification_metrics

    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    floors = [f for f in (min_auc, None if baseline_auc is None or max_auc_drop is None
                          else baseline_auc - max_auc_drop) if f is not None]
    floor = max(floors) if floors else None
    positives = int(labels.sum()) if len(labels) else 0
    if len(labels) < min_rows or positives in (0, len(labels)):
        why = (f"{len(labels)} labelled row(s), {min_rows} needed" if len(labels) < min_rows
               else f"a single class in {len(labels)} labelled rows: AUC is undefined")
        return LiveMetrics(len(labels), positives, None, None, None, baseline_auc, floor, "too_few",
                           f"not judged: {why}")
    metrics = classification_metrics(labels, scores)
    decayed = floor is not None and metrics.auc < floor
    if decayed:
        reason = f"live auc {metrics.auc:.4f} < {floor:.4f}"
        if baseline_auc is not None and max_auc_drop is not None and floor == baseline_auc - max_auc_drop:
            reason += f" (holdout auc {baseline_auc:.4f} - max_auc_drop {max_auc_drop:g})"
    else:
        reason = f"live auc {metrics.auc:.4f}" + (f" ≥ {floor:.4f}" if floor is not None else "")
    return LiveMetrics(metrics.rows, positives, metrics.auc, metrics.precision, metrics.recall, baseline_auc, floor,
                       "decayed" if decayed else "ok", f"{reason} on {metrics.rows} labelled rows")
