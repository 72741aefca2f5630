"""
### Fraud detection — daily training

Trains the fraud-detection XGBoost model from the last 7 daily partitions of
`transactions` (`config/model_configs/fraud_detection.yaml`):

`load_data` → `validate_data` → `engineer_features` → `train_model` →
`evaluate_model` → `register_model` → `send_notification`

The model is registered in MLflow as `fraud_detection`, aliased `challenger`,
and promoted to `champion` when its holdout AUC passes `min_auc_threshold` and
beats the current champion on the same holdout.
"""

from ml_pipeline_airflow.dag_factory import build_training_dag

dag = build_training_dag("fraud_detection", doc_md=__doc__)
