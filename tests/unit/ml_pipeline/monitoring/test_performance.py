"""Live performance: one judgement for monitoring's decay and the deployment watch's floor."""

import numpy as np
import pytest

from ml_pipeline.monitoring.performance import judge_live


def labelled(n: int, separation: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.2).astype(int)
    scores = np.clip(rng.normal(0.3 + separation * labels, 0.15), 0, 1)
    return labels, scores


def test_a_model_that_ranks_as_well_as_on_its_holdout_is_ok():
    labels, scores = labelled(2000, 0.4)
    live = judge_live(labels, scores, min_rows=500, baseline_auc=0.95, max_auc_drop=0.05)
    assert live.status == "ok" and live.auc > 0.9 and live.floor == pytest.approx(0.9) and not live.decayed
    assert live.rows == 2000 and live.positives == labels.sum() and live.reason.startswith("live auc 0.9")


def test_decay_is_an_auc_more_than_max_auc_drop_under_the_holdout():
    labels, scores = labelled(2000, 0.1)
    live = judge_live(labels, scores, min_rows=500, baseline_auc=0.95, max_auc_drop=0.05)
    assert live.decayed and live.auc < 0.9
    assert "(holdout auc 0.9500 - max_auc_drop 0.05)" in live.reason and "2000 labelled rows" in live.reason


def test_the_higher_floor_wins_and_too_few_rows_or_one_class_are_not_judged():
    labels, scores = labelled(2000, 0.4)
    assert judge_live(labels, scores, min_rows=1, baseline_auc=0.95, max_auc_drop=0.05, min_auc=0.99).decayed
    few = judge_live(labels[:100], scores[:100], min_rows=500, baseline_auc=0.95, max_auc_drop=0.05)
    assert few.status == "too_few" and few.auc is None and "100 labelled row(s), 500 needed" in few.reason
    one = judge_live(np.zeros(600), scores[:600], min_rows=500)
    assert one.status == "too_few" and "single class" in one.reason and not one.decayed
