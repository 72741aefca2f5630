import datetime as dt

import numpy as np
import pytest

from ml_pipeline.data.generator import generate_day
from ml_pipeline.features.fraud import engineer_fraud_features
from ml_pipeline.training.trainer import to_model_input, train_classifier

FEATURES = ["amount", "merchant_category", "region", "transaction_count_1h", "transaction_avg_24h"]
PARAMS = {"max_depth": 3, "n_estimators": 20, "learning_rate": 0.3}


@pytest.fixture(scope="module")
def features():
    return engineer_fraud_features(generate_day(dt.date(2026, 11, 20), 4_000))


@pytest.mark.parametrize("model_type", ["xgboost", "lightgbm"])
def test_training_is_deterministic_and_handles_string_features(features, model_type):
    first = train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=1, model_type=model_type)
    second = train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=1, model_type=model_type)
    x = to_model_input(features, FEATURES)
    np.testing.assert_array_equal(first.predict_proba(x), second.predict_proba(x))
    unseen = x.head(3).assign(merchant_category="never-seen")
    assert first.predict_proba(unseen).shape == (3, 2)


def test_single_class_target_is_rejected(features):
    only_legit = features.filter(features["is_fraud"] == 0)
    with pytest.raises(ValueError, match="single class in 'is_fraud'"):
        train_classifier(only_legit, FEATURES, "is_fraud", PARAMS, seed=1)


def test_an_unknown_model_type_names_the_choices(features):
    with pytest.raises(ValueError, match="unknown model_type 'catboost': expected one of lightgbm, xgboost"):
        train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=1, model_type="catboost")
