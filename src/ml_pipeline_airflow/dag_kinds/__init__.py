"""The kinds of per-model DAG, and the one loader that builds them from the model configs.

Each kind is one module declaring its id pattern, which configs it applies to and how to build it
(``base.DagKind``); ``loader.build_dags`` builds a kind for every config, isolating each (config, kind). A kind
names its DAGs (``DEPLOYMENT.dag_id("fraud_detection")``) with ``ml_pipeline_airflow.dag_ids``, which the rest of
the platform uses too, without importing Airflow. A new kind: its prefix in ``dag_ids``, one module here, one line
in ``KINDS``, one thin file in ``airflow/dags/``.
"""

from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.deployment import DEPLOYMENT
from ml_pipeline_airflow.dag_kinds.features import FEATURES
from ml_pipeline_airflow.dag_kinds.loader import CONFIG_ERROR_TAG, build_dags
from ml_pipeline_airflow.dag_kinds.monitoring import MONITORING
from ml_pipeline_airflow.dag_kinds.training import TRAINING
from ml_pipeline_airflow.dag_kinds.validation import VALIDATION

KINDS: tuple[DagKind, ...] = (VALIDATION, FEATURES, TRAINING, DEPLOYMENT, MONITORING)

__all__ = ["CONFIG_ERROR_TAG", "DEPLOYMENT", "FEATURES", "KINDS", "MONITORING", "TRAINING", "VALIDATION", "DagKind",
           "build_dags"]
