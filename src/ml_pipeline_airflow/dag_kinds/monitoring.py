"""``model_monitoring_<model>``: reference → check → record → [alert, request a retraining].

Hourly by default (``monitoring.schedule``), for models with a champion. A drift or decay alerts on Slack and by
e-mail and, when ``monitoring.retrain_on`` lists the cause and no request is within the cooldown, updates the
``<model>_retrain_requested`` asset: the model's training starts on fresh data, and its challenger goes through
the normal deployment gates (retraining never promotes by itself).
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG

from ml_pipeline.config import ModelConfig
from ml_pipeline_airflow import dag_ids
from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.common import dag_arguments, retrain_asset, timetable
from ml_pipeline_airflow.dag_kinds.docs import monitoring_doc
from ml_pipeline_airflow.tasks import monitoring


def build_monitoring_dag(config: ModelConfig, path: Path) -> DAG:
    """The model's monitoring DAG; its outlet (the retrain asset) starts the model's training."""
    from ml_pipeline_airflow.dag_kinds.training import TRAINING

    with DAG(
        dag_id=MONITORING.dag_id(config.model_name),
        description=f"Watch {config.model_name}'s champion: drift, live performance, retraining on evidence",
        schedule=timetable(config.monitoring.schedule),
        **dag_arguments(config, "monitoring"),
        doc_md=monitoring_doc(config, path, TRAINING.dag_id(config.model_name)),
    ) as dag:
        cfg = str(path)
        reference = monitoring.load_reference(cfg)
        recorded = monitoring.record_check(cfg, monitoring.check_window(cfg, reference))
        monitoring.send_alert(cfg, recorded)
        monitoring.request_retraining.override(outlets=[retrain_asset(config)])(recorded)
    return dag


MONITORING = DagKind(name="monitoring", prefix=dag_ids.MONITORING, build=build_monitoring_dag)
