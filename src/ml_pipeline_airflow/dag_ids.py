"""Each DAG kind's dag-id prefix, free of Airflow imports.

The kinds (``dag_kinds``) are built with these prefixes; the platform's supervisor names a model's DAGs with
``model_dag_ids`` to pause or unpause them, without importing Airflow (which would cost it two seconds, a hundred
megabytes and its own log format).
"""

VALIDATION = "data_validation"
FEATURES = "feature_engineering"
TRAINING = "ml_training"
DEPLOYMENT = "model_deployment"
MONITORING = "model_monitoring"

PREFIXES = (VALIDATION, FEATURES, TRAINING, DEPLOYMENT, MONITORING)  # in ``dag_kinds.KINDS``' order


def model_dag_ids(model_name: str) -> list[str]:
    """Every DAG a model can have, one per kind (a kind that does not apply to the model has none)."""
    return [f"{prefix}_{model_name}" for prefix in PREFIXES]
