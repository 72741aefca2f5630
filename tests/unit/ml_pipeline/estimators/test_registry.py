"""The estimator registry: ``model_type`` names exactly the registered estimators, cheaply."""

import subprocess
import sys

import pytest

from ml_pipeline.config import ConfigError, load_model_config
from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators import registry
from ml_pipeline.estimators.lightgbm import LightGBMEstimator
from ml_pipeline.training.trainer import to_model_input, train_classifier
from tests.unit.ml_pipeline.estimators.conftest import FEATURES, PARAMS
from tests.unit.ml_pipeline.test_config import write_variant


def test_both_estimators_are_registered_and_xgboost_stays_the_default():
    assert registry.model_types() == ["lightgbm", "xgboost"]
    assert registry.DEFAULT_MODEL_TYPE == "xgboost"
    assert all(registry.get_estimator(name).name == name for name in registry.model_types())


@pytest.mark.parametrize("model_type", ["lightgbm", "xgboost"])
def test_a_config_accepts_each_registered_model_type(tmp_path, model_type):
    assert load_model_config(write_variant(tmp_path, model_type=model_type)).model_type == model_type


def test_an_unknown_model_type_is_refused_naming_the_field_and_the_choices(tmp_path):
    path = write_variant(tmp_path, model_type="catboost")
    with pytest.raises(ConfigError, match=r"model\.yaml: .*field 'model_type': .*unknown model_type 'catboost': "
                                          r"expected one of lightgbm, xgboost"):
        load_model_config(path)


def test_an_unknown_model_type_is_a_permanent_error():
    with pytest.raises(registry.UnknownModelTypeError, match="expected one of lightgbm, xgboost") as raised:
        registry.get_estimator("XGBoost")
    assert isinstance(raised.value, PermanentError)


def test_reading_configs_imports_no_model_library():
    """check-config and every DAG file read the registry: neither may pay for importing XGBoost or LightGBM."""
    code = ("import sys; import ml_pipeline.config, ml_pipeline.estimators.registry as r; "
            "[e.pip_requirements() for e in r.ESTIMATORS.values()]; "
            "print(sorted(m for m in ('xgboost', 'lightgbm', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr[-2000:]


def test_every_estimator_library_is_preloaded():
    assert registry.preload_modules() == ["lightgbm", "xgboost"]


def test_a_third_estimator_is_one_class_and_one_registry_line(monkeypatch, tmp_path, features):
    class SlowLightGBM(LightGBMEstimator):
        name = "slow_lightgbm"

        def classifier(self, hyperparameters, seed, n_jobs, device):
            return super().classifier({**hyperparameters, "learning_rate": 0.01}, seed, n_jobs, device)

    monkeypatch.setitem(registry.ESTIMATORS, "slow_lightgbm", SlowLightGBM())
    assert load_model_config(write_variant(tmp_path, model_type="slow_lightgbm")).model_type == "slow_lightgbm"
    model = train_classifier(features, FEATURES, "is_fraud", PARAMS, seed=1, model_type="slow_lightgbm")
    assert model.named_steps["classifier"].get_params()["learning_rate"] == 0.01
    assert model.predict_proba(to_model_input(features.head(3), FEATURES)).shape == (3, 2)
