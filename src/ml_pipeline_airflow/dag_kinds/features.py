"""``feature_engineering_<model>``: new or changed days → validate and compute each → write to the store.

Only models with derived features get one: raw-only models read their columns straight from the snapshot.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG

from ml_pipeline.config import ModelConfig
from ml_pipeline_airflow import dag_ids
from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.common import dag_arguments, feature_asset, timetable
from ml_pipeline_airflow.dag_kinds.docs import feature_doc
from ml_pipeline_airflow.notifications.alerts import run_deadline_alerts
from ml_pipeline_airflow.tasks import features


def build_feature_dag(config: ModelConfig, path: Path) -> DAG:
    """The model's feature DAG; its outlet (the feature asset) starts the model's training."""
    from ml_pipeline_airflow.dag_kinds.training import TRAINING

    with DAG(
        dag_id=FEATURES.dag_id(config.model_name),
        description=f"Compute {config.model_name}'s features into the feature store",
        schedule=timetable(config.feature_store.schedule),
        deadline=run_deadline_alerts(config.model_name, config.alerts, "features"),
        **dag_arguments(config, "features"),
        doc_md=feature_doc(config, path, TRAINING.dag_id(config.model_name)),
    ) as dag:
        cfg = str(path)
        days = features.find_pending_days(cfg)
        computed = features.compute_features.partial(config_path=cfg).expand(day=days)
        features.write_to_feature_store.override(outlets=[feature_asset(config)])(cfg, computed)
    return dag


def _has_derived_features(config: ModelConfig) -> bool:
    return config.uses_feature_store


FEATURES = DagKind(name="features", prefix=dag_ids.FEATURES, build=build_feature_dag,
                   applies=_has_derived_features, shows_unreadable_configs=False, deadline="features")
