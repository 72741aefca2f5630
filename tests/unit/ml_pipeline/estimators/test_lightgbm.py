"""LightGBM: deterministic for a fixed seed, CPU only, and loadable by skops with its own trusted types."""

import numpy as np
import pytest
import skops.io

from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.training.resources import DeviceUnavailableError
from ml_pipeline.training.trainer import to_model_input, train_classifier
from tests.unit.ml_pipeline.estimators.conftest import FEATURES, PARAMS

LIGHTGBM = get_estimator("lightgbm")


def train(features, seed: int = 1):
    return train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=seed, model_type="lightgbm")


def test_two_trainings_with_the_same_seed_give_identical_predictions(features):
    x = to_model_input(features, FEATURES)
    first, second = train(features).predict_proba(x), train(features).predict_proba(x)
    np.testing.assert_array_equal(first, second)


def test_the_classifier_is_seeded_row_wise_and_deterministic_whatever_the_config_says(features):
    model = train_classifier(features, FEATURES, "is_fraud", {**PARAMS, "deterministic": False, "n_jobs": 8},
                             seed=7, n_jobs=1, model_type="lightgbm")
    params = model.named_steps["classifier"].get_params()
    assert (params["deterministic"], params["force_row_wise"], params["random_state"], params["n_jobs"]) == \
           (True, True, 7, 1)
    assert params["verbose"] == -1 and params["n_estimators"] == 20


def test_string_features_are_encoded_and_unseen_values_still_score(features):
    x = to_model_input(features.head(3), FEATURES).assign(merchant_category="never-seen")
    scores = train(features).predict_proba(x)[:, 1]
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))


def test_a_required_gpu_is_refused_and_auto_trains_on_the_cpu():
    with pytest.raises(DeviceUnavailableError, match="model_type lightgbm trains on the CPU only; set "
                                                     "training.device to cpu or auto"):
        LIGHTGBM.choose_device("gpu")
    auto = LIGHTGBM.choose_device("auto")
    assert auto.device == "cpu" and "LightGBM trains on the CPU only" in auto.reason
    assert LIGHTGBM.choose_device("cpu").device == "cpu"


def test_skops_loads_a_trained_model_with_exactly_the_trusted_types(features):
    model = train(features)
    saved = skops.io.dumps(model)
    assert set(skops.io.get_untrusted_types(data=saved)) == set(LIGHTGBM.trusted_types)
    loaded = skops.io.loads(saved, trusted=list(LIGHTGBM.trusted_types))
    x = to_model_input(features.head(50), FEATURES)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))


def test_the_pip_requirement_is_the_installed_lightgbm():
    import lightgbm

    assert LIGHTGBM.pip_requirements() == [f"lightgbm=={lightgbm.__version__}"]
