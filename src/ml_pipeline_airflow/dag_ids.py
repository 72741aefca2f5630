"""Each DAG kind's dag-id prefix and the dag-id pattern, free of Airflow imports.

The kinds (``dag_kinds``) are built with these prefixes and name their DAGs with ``dag_id``. The platform's commands
and its supervisor name a model's DAGs here too, without importing Airflow: it would cost a command two seconds
and the supervisor a hundred megabytes and its log format (Airflow's import sets up its own logging).
"""

VALIDATION = "data_validation"
FEATURES = "feature_engineering"
TRAINING = "ml_training"
DEPLOYMENT = "model_deployment"
MONITORING = "model_monitoring"

PREFIXES = (VALIDATION, FEATURES, TRAINING, DEPLOYMENT, MONITORING)  # in ``dag_kinds.KINDS``' order


def dag_id(prefix: str, model_name: str) -> str:
    """The dag id of ``model_name``'s DAG of the kind with ``prefix`` (``dag_id(TRAINING, "fraud_detection")``)."""
    return f"{prefix}_{model_name}"


def model_dag_ids(model_name: str) -> list[str]:
    """Every DAG a model can have, one per kind (a kind that does not apply to the model has none)."""
    return [dag_id(prefix, model_name) for prefix in PREFIXES]
