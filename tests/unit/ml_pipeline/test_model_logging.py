"""Each estimator's model through MLflow (a local SQLite store): logged with its type, loaded trusting only it."""

import datetime as dt

import mlflow
import numpy as np
import pytest
from skops.io.exceptions import UntrustedTypesFoundException

from ml_pipeline.data.generator import generate_day
from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.features.fraud import engineer_fraud_features
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.training.trainer import to_model_input, train_classifier

FEATURES = ["amount", "merchant_category", "region"]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A tracking URI of a fresh SQLite store, and a small feature table."""
    folder = tmp_path_factory.mktemp("mlflow")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)  # MLflow keeps a SQLite store's artifacts in ./mlruns: here, not in the checkout
        yield f"sqlite:///{folder}/mlflow.db", engineer_fraud_features(generate_day(dt.date(2026, 11, 20), 500))


def train(frame, model_type: str):
    return train_classifier(frame, FEATURES, "is_fraud", {"n_estimators": 5}, seed=1, model_type=model_type)


@pytest.mark.parametrize("model_type", ["lightgbm", "xgboost"])
def test_a_model_is_logged_with_its_type_and_loads_back_the_same(store, model_type):
    uri, frame = store
    model, x = train(frame, model_type), to_model_input(frame.head(20), FEATURES)
    requirements = get_estimator(model_type).pip_requirements()
    run_id, model_uri = registry.log_training_run(uri, f"logging-{model_type}", f"key-{model_type}", {}, {}, model,
                                                  x.head(5), requirements, model_type=model_type)
    assert mlflow.MlflowClient(uri).get_run(run_id).data.tags[registry.MODEL_TYPE_TAG] == model_type
    info = mlflow.models.get_model_info(model_uri)
    assert registry.logged_model_type(info.metadata) == model_type
    loaded = registry.load_model(uri, model_uri)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_the_types_a_model_file_lists_are_not_trusted_only_its_estimators(store):
    """A LightGBM model whose MLmodel names no type (so the default, XGBoost) but lists LightGBM's types itself:
    loading trusts XGBoost's types only, and refuses it."""
    uri, frame = store
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        model_uri = mlflow.sklearn.log_model(
            train(frame, "lightgbm"), name="model",
            skops_trusted_types=list(get_estimator("lightgbm").trusted_types)).model_uri
    with pytest.raises(UntrustedTypesFoundException, match="lightgbm"):
        registry.load_model(uri, model_uri)


def test_a_pickled_model_is_refused(store):
    uri, frame = store
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run():
        model_uri = mlflow.sklearn.log_model(train(frame, "xgboost"), name="model",
                                             serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
                                             metadata={"model_type": "xgboost"}).model_uri
    with pytest.raises(PermanentError, match="not a scikit-learn model saved with skops"):
        registry.load_model(uri, model_uri)
