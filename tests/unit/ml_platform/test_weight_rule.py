"""The platform's weight rule reaches its DAGs: parsed with components.SCHEDULER_TUNING's rule, each task of a run
weighs more than the one before it, so a started run's next task goes before a new run's first (Airflow's own rule,
the opposite). Checked on a live platform too: the probe's task instances weighed 1, 2, 3 (DESIGN.md)."""

import json
import os
import subprocess
import sys

import pytest

from ml_platform.components import SCHEDULER_TUNING

CODE = """
import json
from ml_pipeline_airflow.drills import scale_probe
print(json.dumps({t.task_id: str(t.weight_rule.value) for t in scale_probe().tasks}))
"""


@pytest.mark.parametrize("rule", [SCHEDULER_TUNING["AIRFLOW__CORE__DEFAULT_TASK_WEIGHT_RULE"], "downstream"])
def test_the_dags_take_the_platforms_weight_rule(rule):
    env = {**os.environ, "AIRFLOW__CORE__DEFAULT_TASK_WEIGHT_RULE": rule}
    out = subprocess.run([sys.executable, "-c", CODE], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"first": rule, "second": rule, "third": rule}
