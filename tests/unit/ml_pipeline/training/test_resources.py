"""Pools and devices: GPU jobs take one slot per GPU, CPU jobs the training pool; auto falls back to the CPU."""

import os
import stat

import pytest

from ml_pipeline.training.resources import (
    DeviceUnavailableError,
    choose_device,
    detect_gpus,
    platform_gpus,
    training_pool,
    xgboost_has_cuda,
)


@pytest.mark.parametrize(("device", "pool", "gpus", "expected"), [
    ("auto", None, 0, "training"), ("auto", None, 2, "gpu"), ("gpu", None, 0, "gpu"), ("cpu", None, 4, "training"),
    ("auto", "big_jobs", 2, "big_jobs"),
])
def test_the_pool_follows_the_device_unless_the_config_names_one(device, pool, gpus, expected):
    assert training_pool(device, pool, gpus) == expected


def test_auto_trains_on_the_gpu_only_with_a_cuda_build_and_a_gpu():
    assert choose_device("auto", cuda_built=True, gpus=1).device == "cuda"
    no_gpu = choose_device("auto", cuda_built=True, gpus=0)
    assert no_gpu.device == "cpu" and "no GPU on this worker" in no_gpu.reason
    cpu_build = choose_device("auto", cuda_built=False, gpus=1)
    assert cpu_build.device == "cpu" and "make install GPU=1" in cpu_build.reason
    assert choose_device("cpu", cuda_built=True, gpus=1).device == "cpu"


def test_a_required_gpu_that_is_missing_fails_with_the_fix():
    with pytest.raises(DeviceUnavailableError, match="training.device is gpu but no GPU.*set training.device to auto"):
        choose_device("gpu", cuda_built=True, gpus=0)


def test_this_install_is_the_cpu_build_so_auto_means_cpu():
    assert xgboost_has_cuda() is False  # `make install` without GPU=1 installs xgboost-cpu
    assert choose_device("auto").device == "cpu"


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
