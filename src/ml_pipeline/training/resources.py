"""What a training job runs on: the GPUs of this machine and the device a job was given (GPU or CPU).

A model's ``training.device`` picks: ``cpu`` the CPU; ``gpu`` a GPU (an error without one); ``auto`` the GPU
when this worker has one and the model's estimator can use it (``estimators/``: XGBoost's CUDA build, the
``gpu`` extra), else the CPU. Which Airflow pool a training job waits in is the integration's business
(``ml_pipeline_airflow.pools``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Literal

from ml_pipeline.errors import PermanentError

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


@dataclass(frozen=True)
class DeviceChoice:
    """The device a job trains on, as its estimator names it, and why (recorded with the run).

    Each estimator resolves ``training.device`` into one (``Estimator.choose_device``).
    """

    device: Literal["cuda", "cpu"]
    reason: str
