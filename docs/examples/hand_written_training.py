"""
### Backfill training of `fraud_detection`

A hand-written DAG built from the platform's blocks, for what the YAML configs do not describe: one retraining
of `fraud_detection` on a fixed, past window, run by hand. Trigger it with the window's last day as the logical
date (`airflow dags trigger backfill_training_fraud_detection --logical-date 2026-11-20T00:00:00+00:00`): the
window is the `data.lookback_days` days ending then, as in `ml_training_fraud_detection`.

`load_data` → `validate_data` → `find_pending_days` → `compute_features` (one per day whose features are missing
or stale: a past window's features may never have been computed) → `write_to_feature_store` →
`engineer_features` → `train_model` (trains, logs and evaluates) → `register_model` (alias `challenger`; its asset
event starts `model_deployment_fraud_detection`, which alone decides promotion).

Bad data fails `validate_data` at once, before anything trains; transient failures are retried with backoff.
"""

import datetime as dt

from airflow.sdk import DAG

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline_airflow.dag_kinds.common import challenger_asset
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.operators.model_registry import ModelRegistryOperator
from ml_pipeline_airflow.operators.model_training import ModelTrainingOperator
from ml_pipeline_airflow.pools import TRAINING_POOL
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from ml_pipeline_airflow.tasks import features, training

CONFIG = str(config_dir() / "fraud_detection.yaml")

with DAG(
    dag_id="backfill_training_fraud_detection",
    description="Retrain fraud_detection once on a past window (logical date = the window's last day)",
    schedule=None,
    catchup=False,
    max_active_runs=1,
    tags=["ml", "training", "backfill", "fraud_detection"],
    default_args={
        "owner": "fraud-team",
        "retries": 3,
        "retry_delay": dt.timedelta(seconds=30),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": dt.timedelta(minutes=10),
        "retry_policy": TRANSIENT_ONLY,
        "execution_timeout": dt.timedelta(hours=2),
    },
    doc_md=__doc__,
) as dag:
    loaded = training.load_data(CONFIG)
    validated = DataValidationOperator(task_id="validate_data", config_path=CONFIG, loaded=loaded)
    pending = features.find_pending_days(CONFIG)
    computed = features.compute_features.partial(config_path=CONFIG).expand(day=pending)
    stored = features.write_to_feature_store(CONFIG, computed)  # skipped when the window's features were fresh
    engineered = training.engineer_features.override(trigger_rule="none_failed")(CONFIG, loaded)
    validated >> pending
    stored >> engineered

    trained = ModelTrainingOperator(task_id="train_model", config_path=CONFIG, loaded=loaded,
                                    features=engineered, pool=TRAINING_POOL)
    ModelRegistryOperator(task_id="register_model", config_path=CONFIG, loaded=loaded, trained=trained.output,
                          evaluation=trained.output["evaluation"],
                          outlets=[challenger_asset(load_model_config(CONFIG))])
