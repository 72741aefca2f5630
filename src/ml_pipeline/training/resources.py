"""What a training job runs on: its pool (which bounds how many run at once) and its device (GPU or CPU).

Two pools bound training: ``gpu`` (one slot per GPU, so two jobs never share a card) and ``training`` (CPU
jobs). A model's ``training.device`` picks: ``cpu`` always the ``training`` pool and the CPU; ``gpu`` the
``gpu`` pool and a GPU (an error without one); ``auto`` the ``gpu`` pool when the platform has GPUs, and at
run time the GPU when this worker has one and XGBoost was built with CUDA (the ``gpu`` extra), else the CPU.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

GPU_POOL = "gpu"
TRAINING_POOL = "training"
Device = Literal["auto", "cpu", "gpu"]


class DeviceUnavailableError(RuntimeError):
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
    """The XGBoost ``device`` a job trains on, and why (recorded with the run)."""

    device: Literal["cuda", "cpu"]
    reason: str


def xgboost_has_cuda() -> bool:
    """Whether the installed XGBoost was built with CUDA (the full ``xgboost`` wheel, not ``xgboost-cpu``)."""
    import xgboost

    return bool(xgboost.build_info().get("USE_CUDA"))


def choose_device(requested: Device, *, cuda_built: bool | None = None, gpus: int | None = None) -> DeviceChoice:
    """Resolve ``training.device`` on this worker (``cuda_built``/``gpus`` detected when not given)."""
    if requested == "cpu":
        return DeviceChoice("cpu", "training.device is cpu")
    cuda_built = xgboost_has_cuda() if cuda_built is None else cuda_built
    gpus = detect_gpus() if gpus is None else gpus
    if cuda_built and gpus > 0:
        return DeviceChoice("cuda", f"training.device is {requested}: {gpus} GPU(s) and a CUDA build of XGBoost")
    missing = ("XGBoost is the CPU-only build (xgboost-cpu): install the GPU extra, `make install GPU=1`"
               if not cuda_built else "no GPU on this worker (nvidia-smi -L lists none)")
    if requested == "gpu":
        raise DeviceUnavailableError(f"training.device is gpu but {missing}; or set training.device to auto "
                                     "(GPU when there is one, else CPU)")
    return DeviceChoice("cpu", f"training.device is auto: {missing}, so the CPU")
