import polars as pl
import pytest

from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.features.fraud import engineer_fraud_features
from tests.unit.ml_pipeline.frames import transactions


def feature_of(frame: pl.DataFrame, tx: str, column: str):
    return frame.filter(pl.col("transaction_id") == tx)[column].item()


def test_window_features_count_only_earlier_events_of_the_same_card():
    frame = transactions([("a", 0, 10.0), ("a", 30, 20.0), ("a", 50, 60.0), ("b", 40, 999.0), ("a", 120, 5.0)])
    features = engineer_fraud_features(frame)
    assert feature_of(features, "tx-0", "transaction_count_1h") == 0
    assert feature_of(features, "tx-0", "transaction_avg_24h") is None
    assert feature_of(features, "tx-2", "transaction_count_1h") == 2
    assert feature_of(features, "tx-2", "transaction_avg_24h") == pytest.approx(15.0)
    assert feature_of(features, "tx-2", "amount_to_avg_24h") == pytest.approx(4.0)
    # at +120 the hour window [+60, +120) is empty, the day window holds tx-0..tx-2
    assert feature_of(features, "tx-4", "transaction_count_1h") == 0
    assert feature_of(features, "tx-4", "transaction_avg_24h") == pytest.approx(30.0)
    assert feature_of(features, "tx-3", "transaction_count_1h") == 0  # card b's history is its own


def test_features_never_use_future_events():
    past = transactions([("a", 0, 10.0), ("a", 30, 20.0), ("b", 10, 7.0)])
    with_future = pl.concat([past, transactions([("a", 31, 5000.0), ("a", 32, 1.0), ("b", 11, 3.0)])
                             .with_columns(pl.format("future-{}", pl.col("transaction_id")).alias("transaction_id"))])
    before = engineer_fraud_features(past).sort("transaction_id")
    after = engineer_fraud_features(with_future).filter(~pl.col("transaction_id").str.starts_with("future"))
    assert after.sort("transaction_id").equals(before)


def test_missing_column_raises_an_error_that_names_it():
    with pytest.raises(DataValidationError, match="missing column.*card_id"):
        engineer_fraud_features(transactions([("a", 0, 1.0)]).drop("card_id"))
