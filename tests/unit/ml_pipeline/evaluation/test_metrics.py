import numpy as np
import pytest

from ml_pipeline.evaluation.metrics import classification_metrics, promotion_decision


def test_metrics_on_a_known_example():
    metrics = classification_metrics(np.array([0, 0, 1, 1]), np.array([0.1, 0.6, 0.4, 0.9]))
    assert metrics.auc == pytest.approx(0.75)
    assert (metrics.precision, metrics.recall, metrics.f1) == (0.5, 0.5, 0.5)
    assert metrics.positive_rate == 0.5


def test_single_class_holdout_is_an_error():
    with pytest.raises(ValueError, match="single class"):
        classification_metrics(np.array([0, 0]), np.array([0.1, 0.2]))


@pytest.mark.parametrize(("auc", "champion", "promote", "reason"), [
    (0.90, None, True, "first model"),
    (0.90, 0.88, True, "beats champion"),
    (0.90, 0.91, False, "does not beat"),
    (0.80, None, False, "below min_auc_threshold 0.8500 by 0.0500"),
])
def test_promotion_gates(auc, champion, promote, reason):
    decision = promotion_decision(auc, champion, 0.85)
    assert decision["promote"] is promote
    assert reason in decision["reason"]


def test_a_challenger_must_beat_the_champion_by_the_margin():
    decision = promotion_decision(0.905, 0.90, 0.85, min_improvement=0.01)
    assert not decision["promote"] and decision["passes_threshold"]
    assert "0.9050 does not beat the champion's 0.9000 + margin 0.0100 (short by 0.0050)" in decision["reason"]
    assert promotion_decision(0.915, 0.90, 0.85, min_improvement=0.01)["promote"]
    assert promotion_decision(0.80, None, 0.85, min_improvement=0.01)["challenger_auc"] == 0.80
