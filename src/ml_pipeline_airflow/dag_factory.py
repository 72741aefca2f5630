"""Build a model's training DAG from its YAML config.

Parsing stays cheap: only the config (pydantic + YAML) is read at parse time;
every ML library is imported inside the tasks.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from airflow.sdk import DAG, chain

from ml_pipeline.config import load_model_config
from ml_pipeline_airflow.tasks import training

DEFAULT_CONFIG_DIR = Path(__file__).resolve().parents[2] / "config" / "model_configs"


def model_config_path(model_name: str) -> Path:
    """Path of a model's config (``ML_PIPELINE_CONFIG_DIR`` overrides the repo's folder)."""
    return Path(os.environ.get("ML_PIPELINE_CONFIG_DIR", DEFAULT_CONFIG_DIR)) / f"{model_name}.yaml"


def default_args(retries: int, owner: str) -> dict:
    """Task defaults: retries with exponential backoff (30 s, 60 s, 120 s … at most 10 min)."""
    return {"owner": owner, "retries": retries, "retry_delay": dt.timedelta(seconds=30),
            "retry_exponential_backoff": 2.0, "max_retry_delay": dt.timedelta(minutes=10),
            "execution_timeout": dt.timedelta(hours=2)}


def build_training_dag(model_name: str, doc_md: str | None = None) -> DAG:
    """The ``ml_training_<model>`` DAG: load → validate → features → train → evaluate → register → notify."""
    path = model_config_path(model_name)
    config = load_model_config(path)
    with DAG(
        dag_id=config.training_dag_id,
        description=config.description or f"Train {config.model_name}",
        schedule=config.schedule,
        catchup=False,  # no start_date either: unpausing waits for the next slot, it runs no missed one
        max_active_runs=1,
        tags=["ml", "training", config.model_name],
        default_args=default_args(config.retries, config.owner),
        doc_md=doc_md,
    ) as dag:
        cfg = str(path)
        loaded = training.load_data(cfg)
        validated = training.validate_data(cfg, loaded)
        features = training.engineer_features(cfg, loaded)
        trained = training.train_model(cfg, loaded, features)
        evaluation = training.evaluate_model(cfg, features, trained)
        registered = training.register_model(cfg, loaded, trained, evaluation)
        notified = training.send_notification(cfg, loaded, trained, evaluation, registered)
        chain(loaded, validated, features, trained, evaluation, registered, notified)
    return dag
