"""``ml_training_<model>``: load → validate → features → train → evaluate → register → notify.

Models with store features train when their features are updated (the feature DAG's asset), and on their cron
if they have one; a model with ``data.partition_by`` loads, validates and engineers each partition value in its
own mapped task and combines them for training.
"""

from __future__ import annotations

from pathlib import Path

from airflow.sdk import DAG, AssetOrTimeSchedule, XComArg

from ml_pipeline.config import ConfigError, ModelConfig
from ml_pipeline_airflow import dag_ids
from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.common import (
    challenger_asset,
    dag_arguments,
    feature_asset,
    retrain_asset,
    timetable,
)
from ml_pipeline_airflow.dag_kinds.docs import training_doc
from ml_pipeline_airflow.notifications.alerts import run_deadline_alerts
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.pools import model_device, model_training_pool, platform_gpus, pool_problem
from ml_pipeline_airflow.runtime import PARTITION_LABEL
from ml_pipeline_airflow.tasks import features, training


def build_training_dag(config: ModelConfig, path: Path) -> DAG:
    """The model's training DAG; ``ConfigError`` when its training could never start on this platform."""
    problem = pool_problem(model_device(config), config.training.pool, platform_gpus())
    if problem:
        raise ConfigError(f"{path}: {problem}")
    with DAG(
        dag_id=TRAINING.dag_id(config.model_name),
        description=config.description or f"Train {config.model_name}",
        schedule=_schedule(config),
        deadline=run_deadline_alerts(config.model_name, config.alerts, "training"),
        **dag_arguments(config, "training"),
        doc_md=training_doc(config, path),
    ) as dag:
        cfg = str(path)
        if config.data.partition_by:
            loaded, engineered = _partitioned_inputs(config, cfg)
        else:
            loaded = training.load_data(cfg)
            engineered = training.engineer_features(cfg, loaded)
            gate = DataValidationOperator(task_id="validate_data", config_path=cfg, loaded=loaded)
            if config.uses_feature_store:
                gate >> _wait_for_features(config, cfg, loaded) >> engineered
            else:
                gate >> engineered
        # Each task consumes its predecessors' XCom references, which also orders them.
        trained = _train_model(config)(cfg, loaded, engineered)
        evaluation = training.evaluate_model(cfg, engineered, trained)
        registered = training.register_model.override(outlets=[challenger_asset(config)])(
            cfg, loaded, trained, evaluation)
        training.send_notification(cfg, loaded, trained, evaluation, registered)
    return dag


def _train_model(config: ModelConfig):
    """The training task in its pool (``gpu``: one slot per GPU, or ``training``) with the model's priority.

    When the pool is full, higher-priority models train first (``absolute``: the weight is the config's, not
    summed over downstream tasks).
    """
    return training.train_model.override(pool=model_training_pool(config),
                                         priority_weight=config.training.priority_weight, weight_rule="absolute")


def _partitioned_inputs(config: ModelConfig, cfg: str) -> tuple[XComArg, XComArg]:
    """Load, validate and engineer features once per ``partition_by`` value, then combine for training."""
    partitions = training.list_partitions(cfg)
    loaded_parts = training.load_data.partial(config_path=cfg).expand(partition=partitions)
    validated = DataValidationOperator.partial(task_id="validate_data", config_path=cfg,
                                               map_index_template=PARTITION_LABEL).expand(loaded=loaded_parts)
    feature_parts = training.engineer_features.partial(config_path=cfg).expand(loaded=loaded_parts)
    if config.uses_feature_store:
        waited = features.wait_for_features.override(timeout=_wait_limit(config)).partial(
            config_path=cfg, wait_seconds=config.feature_store.wait_timeout_minutes * 60,
            feature_dag_id=_feature_dag_id(config)).expand(loaded=loaded_parts)
        validated >> waited >> feature_parts
    else:
        validated >> feature_parts
    combined = training.combine_partitions(cfg, loaded_parts, feature_parts)
    return combined["loaded"], combined["features"]


def _wait_for_features(config: ModelConfig, cfg: str, loaded: XComArg) -> XComArg:
    """Training's check that the store holds features computed from this run's snapshot (reschedule sensor)."""
    return features.wait_for_features.override(timeout=_wait_limit(config))(
        cfg, loaded, config.feature_store.wait_timeout_minutes * 60, _feature_dag_id(config))


def _feature_dag_id(config: ModelConfig) -> str:
    from ml_pipeline_airflow.dag_kinds.features import FEATURES

    return FEATURES.dag_id(config.model_name)


def _wait_limit(config: ModelConfig) -> float:
    """The sensor's own timeout, a backstop behind the task's clearer message at ``wait_timeout_minutes``."""
    return config.feature_store.wait_timeout_minutes * 60 + 600


def _schedule(config: ModelConfig):
    """On the cron, when the model's features are updated, and when monitoring requests a retraining.

    The cron is the daily guarantee: a clock run whose features are not fresh waits for them, then fails loudly.
    A retraining request (drift or decay, ``monitoring.retrain_on``) starts a run on the newest data.
    """
    clock = timetable(config.schedule)
    assets = [feature_asset(config)] if config.uses_feature_store else []
    if config.monitoring.retrain_on:
        assets.append(retrain_asset(config))
    if not assets:
        return clock
    expression = assets if len(assets) == 1 else assets[0] | assets[1]  # a list means all of them; | any
    return AssetOrTimeSchedule(timetable=clock, assets=expression) if clock else expression


TRAINING = DagKind(name="training", prefix=dag_ids.TRAINING, build=build_training_dag, deadline="training")
