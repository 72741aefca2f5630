"""XGBoost through the registry: today's models unchanged, the GPU when the build and the worker have one."""

import numpy as np
import polars as pl
import pytest
import skops.io

from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.estimators.xgboost import xgboost_has_cuda
from ml_pipeline.training.resources import DeviceUnavailableError
from ml_pipeline.training.trainer import to_model_input, train_classifier
from tests.unit.ml_pipeline.estimators.conftest import FEATURES, PARAMS

XGBOOST = get_estimator("xgboost")


def build_before_the_registry(frame, features, hyperparameters, seed, n_jobs=2, device="cpu"):
    """trainer.build_classifier as it was before estimators had a registry, verbatim."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder
    from xgboost import XGBClassifier

    categorical = [f for f in features if frame.schema[f] == pl.String]
    encoder = ColumnTransformer(
        [("categorical", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                        encoded_missing_value=-1), categorical)],
        remainder="passthrough", verbose_feature_names_out=False,
    )
    params = {"tree_method": "hist", "eval_metric": "auc", **hyperparameters,
              "random_state": seed, "n_jobs": n_jobs, "device": device}
    return Pipeline([("encode", encoder), ("classifier", XGBClassifier(**params))])


def test_predictions_are_those_of_the_trainer_before_the_registry(features):
    x, y = to_model_input(features, FEATURES), features["is_fraud"].to_numpy()
    before = build_before_the_registry(features, FEATURES, PARAMS, seed=3).fit(x, y)
    now = train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=3, model_type="xgboost")
    np.testing.assert_array_equal(now.predict_proba(x), before.predict_proba(x))
    assert now.named_steps["classifier"].get_params() == before.named_steps["classifier"].get_params()
    default = train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=3)  # no model_type: xgboost
    np.testing.assert_array_equal(default.predict_proba(x), before.predict_proba(x))


def test_auto_trains_on_the_gpu_only_with_a_cuda_build_and_a_gpu():
    assert XGBOOST.choose_device("auto", cuda_built=True, gpus=1).device == "cuda"
    no_gpu = XGBOOST.choose_device("auto", cuda_built=True, gpus=0)
    assert no_gpu.device == "cpu" and "no GPU on this worker" in no_gpu.reason
    cpu_build = XGBOOST.choose_device("auto", cuda_built=False, gpus=1)
    assert cpu_build.device == "cpu" and "make install GPU=1" in cpu_build.reason
    assert XGBOOST.choose_device("cpu", cuda_built=True, gpus=1).device == "cpu"


def test_a_required_gpu_that_is_missing_fails_with_the_fix():
    with pytest.raises(DeviceUnavailableError, match="training.device is gpu but no GPU.*set training.device to auto"):
        XGBOOST.choose_device("gpu", cuda_built=True, gpus=0)


def test_this_install_is_the_cpu_build_so_auto_means_cpu():
    assert xgboost_has_cuda() is False  # `make install` without GPU=1 installs xgboost-cpu
    assert XGBOOST.choose_device("auto").device == "cpu"
    assert XGBOOST.pip_requirements()[0].startswith("xgboost-cpu==")


def test_a_model_trained_on_a_gpu_is_served_on_the_cpu(features):
    model = XGBOOST.build(features, FEATURES, PARAMS, seed=1, device="cuda")
    assert XGBOOST.for_serving(model, "cuda").named_steps["classifier"].get_params()["device"] == "cpu"


def test_skops_loads_a_trained_model_with_exactly_the_trusted_types(features):
    saved = skops.io.dumps(train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=1))
    assert set(skops.io.get_untrusted_types(data=saved)) == set(XGBOOST.trusted_types)
