"""A hyperparameter training would ignore, override or fail on is refused before any data is read."""

from dataclasses import replace

import pytest

from ml_pipeline.cli import main
from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators.base import InvalidHyperparametersError
from ml_pipeline.estimators.registry import get_estimator
from ml_pipeline.pipelines import training
from tests.unit.ml_pipeline.pipelines.test_context import make_context
from tests.unit.ml_pipeline.test_config import write_variant

LIBRARIES = ["xgboost", "lightgbm"]


@pytest.mark.parametrize("model_type", LIBRARIES)
@pytest.mark.parametrize("hyperparameters", [
    {"max_depth": 6, "learning_rate": 0.1, "n_estimators": 100},
    {"eta": 0.1},  # the library's own alias of learning_rate
    {},
])
def test_what_the_library_takes_passes(model_type, hyperparameters):
    get_estimator(model_type).check_hyperparameters(hyperparameters)


@pytest.mark.parametrize("model_type", LIBRARIES)
@pytest.mark.parametrize(("hyperparameters", "expected"), [
    ({"max_dept": 6}, "field 'training.hyperparameters': max_dept (did you mean max_depth?): not a parameter of "),
    ({"learning_rate": -1}, "field 'training.hyperparameters': {label} refuses them: "),
    ({"subsample": 2}, "field 'training.hyperparameters': {label} refuses them: "),
    ({"n_estimators": 0}, "field 'training.hyperparameters.n_estimators': 0 is not a number of trees"),
    ({"n_estimators": "100"}, "field 'training.hyperparameters.n_estimators': '100' is not a number of trees"),
    ({"random_state": 7}, "field 'training.hyperparameters.random_state': the platform sets it from training.seed"),
    ({"device": "cuda"}, "field 'training.hyperparameters.device': the platform sets it from training.device"),
])
def test_what_training_would_ignore_override_or_fail_on_is_refused(model_type, hyperparameters, expected):
    estimator = get_estimator(model_type)
    with pytest.raises(InvalidHyperparametersError) as refused:
        estimator.check_hyperparameters(hyperparameters)
    assert str(refused.value).startswith(expected.format(label=estimator.label)), refused.value
    assert isinstance(refused.value, PermanentError)  # no retries: the config is wrong


def test_check_config_names_the_file_and_the_parameter(tmp_path, capsys):
    bad = write_variant(tmp_path, training__hyperparameters={"max_dept": 3})
    assert main(["check-config", str(bad)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error  {bad}: field 'training.hyperparameters': max_dept (did you mean max_depth?): not a parameter of "
        "XGBoost, so training would ignore it; fix the name or remove it")


@pytest.mark.parametrize("partitioned", [False, True])
def test_a_training_run_fails_at_its_first_step_before_reading_any_data(tmp_path, partitioned):
    ctx = make_context(lake_uri=tmp_path.as_uri())  # an empty lake: reading it would fail differently
    config = ctx.config.model_copy(update={"training": ctx.config.training.model_copy(
        update={"hyperparameters": {"max_dept": 3}})})
    ctx = replace(ctx, config=config)
    with pytest.raises(InvalidHyperparametersError, match="max_dept"):
        training.list_partitions(ctx) if partitioned else training.load_data(ctx)
