"""Pools and GPUs: GPU jobs take one slot per GPU, CPU jobs the training pool (each estimator's device choice is
tested with it, in tests/unit/ml_pipeline/estimators/)."""

import os
import stat

import pytest

from ml_pipeline.training.resources import detect_gpus, platform_gpus, training_pool


@pytest.mark.parametrize(("device", "pool", "gpus", "expected"), [
    ("auto", None, 0, "training"), ("auto", None, 2, "gpu"), ("gpu", None, 0, "gpu"), ("cpu", None, 4, "training"),
    ("auto", "big_jobs", 2, "big_jobs"),
])
def test_the_pool_follows_the_device_unless_the_config_names_one(device, pool, gpus, expected):
    assert training_pool(device, pool, gpus) == expected


def test_gpus_are_counted_from_nvidia_smi(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-1)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-2)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert detect_gpus() == 2
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert detect_gpus() == 0


@pytest.mark.parametrize("value", ["two", "-1"])
def test_a_bad_gpu_count_names_the_variable(value):
    with pytest.raises(ValueError, match=f"ML_PLATFORM_GPUS={value!r}|ML_PLATFORM_GPUS=-1"):
        platform_gpus({"ML_PLATFORM_GPUS": value})
    assert platform_gpus({}) == 0 and platform_gpus({"ML_PLATFORM_GPUS": "3"}) == 3
