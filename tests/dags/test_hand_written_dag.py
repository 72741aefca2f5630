"""The hand-written example DAG (docs/examples/) imports cleanly and cheaply, and is written as the docs say."""

import json
import subprocess
import sys

import pytest
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk.definitions.timetables.simple import NullTimetable

from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.operators.model_registry import ModelRegistryOperator
from ml_pipeline_airflow.operators.model_training import ModelTrainingOperator
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from tests.conftest import REPO_ROOT
from tests.dags.test_dag_integrity import PARSE_PROBE

EXAMPLE = REPO_ROOT / "docs" / "examples" / "hand_written_training.py"
DAG_ID = "backfill_training_fraud_detection"
TASKS = ["load_data", "validate_data", "find_pending_days", "compute_features", "write_to_feature_store",
         "engineer_features", "train_model", "register_model"]


@pytest.fixture(scope="module")
def dag():
    dagbag = DagBag(dag_folder=str(EXAMPLE))
    assert dagbag.import_errors == {}
    return dagbag.dags[DAG_ID]


def test_example_runs_by_hand_with_the_platform_retry_policy(dag):
    assert isinstance(dag.timetable, NullTimetable)  # runs only when triggered
    assert set(dag.tags) == {"ml", "training", "backfill", "fraud_detection"}
    assert dag.doc_md and dag.doc_md.strip().startswith("### Backfill training of `fraud_detection`")
    for task in dag.tasks:
        assert task.retry_policy is TRANSIENT_ONLY, task.task_id
        assert task.retries == 3 and task.retry_exponential_backoff == 2.0, task.task_id


def test_example_validates_before_features_and_registers_a_challenger(dag):
    assert [t.task_id for t in dag.topological_sort()] == TASKS
    assert isinstance(dag.get_task("validate_data"), DataValidationOperator)
    assert isinstance(dag.get_task("train_model"), ModelTrainingOperator)
    register = dag.get_task("register_model")
    assert isinstance(register, ModelRegistryOperator)
    assert register.upstream_task_ids == {"load_data", "train_model"}
    assert [asset.name for asset in register.outlets] == ["fraud_detection_challenger"]
    assert dag.get_task("engineer_features").trigger_rule == "none_failed"  # runs when no day needed features


def test_example_parses_without_heavy_imports():
    probe = subprocess.run([sys.executable, "-c", PARSE_PROBE, str(EXAMPLE)], capture_output=True, text=True,
                           check=True, cwd=REPO_ROOT)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], "DAG files must import ML libraries inside tasks"
    assert result["seconds"] < 3.0
