"""
### Model training pipelines

One `ml_training_<model_name>` DAG per YAML file in `config/model_configs/`
(or `$ML_PIPELINE_CONFIG_DIR`): adding a model is adding a file. Each runs
`load_data` → `validate_data` → `engineer_features` → `train_model` →
`evaluate_model` → `register_model` → `send_notification`.
"""

from ml_pipeline_airflow.dag_kinds import TRAINING, build_dags

globals().update(build_dags(TRAINING))
