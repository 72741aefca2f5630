"""
### Model monitoring

One `model_monitoring_<model_name>` DAG per model, hourly by default (`monitoring.schedule`):
`load_reference` (the champion's training snapshot, profiled once per version) → `check_window` (data,
prediction and target drift, live performance on the newest window) → `record_check` (`model_monitoring` row,
report in the lake and MLflow) → `send_alert` (drift or decay) and `request_retraining` (the
`<model>_retrain_requested` asset, which starts the model's training; cooldown between requests).
"""

from ml_pipeline_airflow.dag_kinds import MONITORING, build_dags

globals().update(build_dags(MONITORING))
