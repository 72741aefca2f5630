"""A small fraud feature table, shared by the estimator tests."""

import datetime as dt

import pytest

from ml_pipeline.data.generator import generate_day
from ml_pipeline.features.fraud import engineer_fraud_features

FEATURES = ["amount", "merchant_category", "region", "transaction_count_1h", "transaction_avg_24h"]
PARAMS = {"max_depth": 3, "n_estimators": 20, "learning_rate": 0.3}


@pytest.fixture(scope="package")
def features():
    """2,000 transactions of one day with their fraud features (string and numeric columns)."""
    return engineer_fraud_features(generate_day(dt.date(2026, 11, 20), 2_000))
