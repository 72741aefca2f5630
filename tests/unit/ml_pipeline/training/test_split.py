import pytest

from ml_pipeline.training.split import split_by_time
from tests.unit.ml_pipeline.frames import transactions


def test_holdout_is_the_latest_fraction():
    frame = transactions([("a", m, 1.0) for m in (50, 10, 40, 0, 30, 20, 90, 80, 70, 60)])
    train, holdout = split_by_time(frame, 0.2)
    assert (train.height, holdout.height) == (8, 2)
    assert train["event_time"].max() < holdout["event_time"].min()


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_invalid_fraction_is_rejected(fraction):
    with pytest.raises(ValueError, match="holdout_fraction"):
        split_by_time(transactions([("a", 0, 1.0), ("a", 1, 1.0)]), fraction)


def test_too_few_rows_for_a_holdout():
    with pytest.raises(ValueError, match="too few"):
        split_by_time(transactions([("a", 0, 1.0)]), 0.2)
