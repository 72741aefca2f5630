"""Task workers run below the platform's own processes' CPU priority: a real PreloadingLocalExecutor's workers are
niced by ML_PLATFORM_TASK_NICE, its scheduler is not; a bad value is refused with the variable named."""

import os
import subprocess
import sys

import pytest

from ml_pipeline_airflow.executors.priority import task_nice

CODE = """
import os, multiprocessing as mp, psutil
mp.set_start_method("fork")
from ml_pipeline_airflow.executors.local_executor import PreloadingLocalExecutor
ex = PreloadingLocalExecutor(parallelism=2); ex.start()
import time; time.sleep(1)  # the workers have lowered their priority as they started
line = f"{os.nice(0)} {sorted(psutil.Process(pid).nice() for pid in ex.workers)}"
os.write(1, f"\\n{line}\\n".encode())
ex.end()
"""


@pytest.mark.parametrize(("nice", "expected"), [("7", "0 [7, 7]"), ("0", "0 [0, 0]")])
def test_local_executor_workers_run_niced_and_the_scheduler_does_not(nice, expected):
    out = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "ML_PLATFORM_TASK_NICE": nice, "ML_PLATFORM_PRELOAD": "0"})
    assert expected in out.stdout.splitlines(), out.stdout + out.stderr[-2000:]


@pytest.mark.parametrize("value", ["high", "-3", "20"])
def test_a_bad_value_names_the_variable_and_the_range(monkeypatch, value):
    monkeypatch.setenv("ML_PLATFORM_TASK_NICE", value)
    with pytest.raises(ValueError, match=r"ML_PLATFORM_TASK_NICE=.*whole number from 0 \(off\) to 19"):
        task_nice()


def test_default_is_ten(monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_TASK_NICE", raising=False)
    assert task_nice() == 10
