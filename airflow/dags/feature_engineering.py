"""
### Feature pipelines

One `feature_engineering_<model_name>` DAG per model whose config lists derived
features: `find_pending_days` → `compute_features` (one per new or changed day) →
`write_to_feature_store` (Feast registry, online materialization). Its outlet, the
model's feature asset, schedules `ml_training_<model_name>`.
"""

from ml_pipeline_airflow.dag_kinds import FEATURES, build_dags

globals().update(build_dags(FEATURES))
