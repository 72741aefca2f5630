"""Pools: GPU jobs take one slot per GPU, CPU jobs the training pool; a config names its own pool."""

import pytest

from ml_pipeline_airflow.pools import platform_gpus, pool_problem, training_pool


@pytest.mark.parametrize(("device", "pool", "gpus", "expected"), [
    ("auto", None, 0, "training"), ("auto", None, 2, "gpu"), ("gpu", None, 0, "gpu"), ("cpu", None, 4, "training"),
    ("auto", "big_jobs", 2, "big_jobs"),
])
def test_the_pool_follows_the_device_unless_the_config_names_one(device, pool, gpus, expected):
    assert training_pool(device, pool, gpus) == expected


@pytest.mark.parametrize("value", ["two", "-1"])
def test_a_bad_gpu_count_names_the_variable(value):
    with pytest.raises(ValueError, match=f"ML_PLATFORM_GPUS={value!r}|ML_PLATFORM_GPUS=-1"):
        platform_gpus({"ML_PLATFORM_GPUS": value})
    assert platform_gpus({}) == 0 and platform_gpus({"ML_PLATFORM_GPUS": "3"}) == 3


def test_only_a_gpu_model_without_a_pool_on_a_platform_without_gpus_is_a_problem():
    assert "training.device" in pool_problem("gpu", None, 0)
    assert pool_problem("gpu", None, 1) is None
    assert pool_problem("gpu", "big_jobs", 0) is None
    assert pool_problem("auto", None, 0) is None
