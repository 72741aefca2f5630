"""GPUs are counted from the driver (each estimator's device choice is tested in tests/unit/ml_pipeline/estimators/;
pools in tests/unit/ml_pipeline_airflow/test_pools.py)."""

import os
import stat

from ml_pipeline.training.resources import detect_gpus


def test_gpus_are_counted_from_nvidia_smi(tmp_path, monkeypatch):
    smi = tmp_path / "nvidia-smi"
    smi.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-1)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-2)'\n")
    smi.chmod(smi.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    assert detect_gpus() == 2
    smi.write_text("#!/bin/sh\necho 'NVIDIA-SMI has failed' >&2; exit 9\n")
    assert detect_gpus() == 0
