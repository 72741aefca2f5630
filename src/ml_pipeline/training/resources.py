"""What a training job runs on: its pool (which bounds how many run at once) and its device (GPU or CPU).

Two pools bound training: ``gpu`` (one slot per GPU, so two jobs never share a card) and ``training`` (CPU
jobs). A model's ``training.device`` picks: ``cpu`` always the ``training`` pool and the CPU; ``gpu`` the
``gpu`` pool and a GPU (an error without one); ``auto`` the ``gpu`` pool when the platform has GPUs, and at
run time the GPU when this worker has one and the model's estimator can use it (``estimators/``: XGBoost's CUDA
build, the ``gpu`` extra), else the CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from ml_pipeline.errors import PermanentError

GPU_POOL = "gpu"
TRAINING_POOL = "training"
Device = Literal["auto", "cpu", "gpu"]


class DeviceUnavailableError(PermanentError, RuntimeError):
    """The config demands a GPU this worker cannot give: retrying on the same worker cannot help."""


def detect_gpus() -> int:
    """How many NVIDIA GPUs this machine has (``nvidia-smi -L``); 0 without the driver."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return 0
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return 0
    return sum(line.startswith("GPU ") for line in listed.stdout.splitlines()) if listed.returncode == 0 else 0


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


@dataclass(frozen=True)
class DeviceChoice:
    """The device a job trains on, as its estimator names it, and why (recorded with the run).

    Each estimator resolves ``training.device`` into one (``Estimator.choose_device``).
    """

    device: Literal["cuda", "cpu"]
    reason: str
