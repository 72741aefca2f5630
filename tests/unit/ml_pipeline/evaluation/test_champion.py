"""The champion is scored on the challenger's holdout, or, when it cannot score it, by its recorded AUC."""

from types import SimpleNamespace

import numpy as np
import pytest

from ml_pipeline.errors import TransientError
from ml_pipeline.evaluation.champion import score_champion

Y = np.array([0, 0, 1, 1])
CHAMPION = SimpleNamespace(version="3", run_id="run-3", tags={"holdout_auc": "0.812500"})


def test_the_champion_is_judged_on_the_same_rows():
    assert score_champion(CHAMPION, lambda: np.array([0.1, 0.6, 0.4, 0.9]), Y) == {
        "version": "3", "run_id": "run-3", "auc": 0.75}


@pytest.mark.parametrize("error", [KeyError("category_avg_amount_24h"), ValueError("feature names mismatch")])
def test_a_champion_trained_on_other_features_falls_back_to_its_recorded_auc(error, caplog):
    def scores():
        raise error

    assert score_champion(CHAMPION, scores, Y)["auc"] == 0.8125
    assert "champion v3 cannot score this holdout" in caplog.text


def test_without_a_recorded_auc_the_fallback_is_zero():
    def scores():
        raise ValueError("no")

    assert score_champion(SimpleNamespace(version="1", run_id="r", tags={}), scores, Y)["auc"] == 0.0


def test_any_other_failure_is_raised():
    def scores():
        raise TransientError("MLflow unreachable")

    with pytest.raises(TransientError):
        score_champion(CHAMPION, scores, Y)
