"""Which Airflow pool a model's training takes, so training jobs never fight over a GPU.

Two pools bound training: ``gpu`` (one slot per GPU, so two jobs never share a card) and ``training`` (CPU jobs).
A model's ``training.device`` picks: ``cpu`` the ``training`` pool; ``gpu`` the ``gpu`` pool (a config error on a
platform without GPUs: the task would wait forever); ``auto`` the ``gpu`` pool when the platform has GPUs. Which
device a job then really trains on is decided at run time, on its worker, by the model's estimator.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ml_pipeline.training.resources import Device

if TYPE_CHECKING:
    from ml_pipeline.config import ModelConfig

GPU_POOL = "gpu"
TRAINING_POOL = "training"


def platform_gpus(environ: dict[str, str] | os._Environ = os.environ) -> int:
    """The GPUs the platform schedules on: ``ML_PLATFORM_GPUS`` (the ``gpu`` pool's slots), 0 when unset."""
    value = environ.get("ML_PLATFORM_GPUS", "0").strip() or "0"
    try:
        gpus = int(value)
    except ValueError:
        raise ValueError(f"ML_PLATFORM_GPUS={value!r} is not a whole number: set it to the GPU count (0 for none)")\
            from None
    if gpus < 0:
        raise ValueError(f"ML_PLATFORM_GPUS={gpus} is negative: set it to the GPU count (0 for none)")
    return gpus


def training_pool(device: Device, pool: str | None, gpus: int) -> str:
    """The Airflow pool a model's training task takes: its ``training.pool`` if set, else by device."""
    if pool:
        return pool
    if device == "gpu" or (device == "auto" and gpus > 0):
        return GPU_POOL
    return TRAINING_POOL


def pool_problem(device: Device, pool: str | None, gpus: int) -> str | None:
    """Why a model's training could never start on this platform (a ``gpu`` pool of 0 slots), or None."""
    if device == "gpu" and not pool and gpus == 0:
        return ("field 'training.device': gpu, but the platform has no GPU (ML_PLATFORM_GPUS=0), so its training "
                "would wait for the gpu pool forever; set training.device to auto (GPU when there is one) or cpu, "
                "or run GPU workers and set ML_PLATFORM_GPUS to their GPU count")
    return None


def model_device(config: ModelConfig) -> Device:
    """The device a model's training may ask for: an estimator that trains on the CPU only never takes a GPU slot."""
    from ml_pipeline.estimators.registry import get_estimator

    return config.training.device if get_estimator(config.model_type).supports_gpu else "cpu"


def model_training_pool(config: ModelConfig) -> str:
    """The pool a model's training task takes on this platform (its ``training.pool``, else by device)."""
    return training_pool(model_device(config), config.training.pool, platform_gpus())
