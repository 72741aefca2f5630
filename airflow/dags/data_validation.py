"""
### Data validation

One `data_validation_<model_name>` DAG per model config: `wait_for_partition`
(the day's partition has landed) → `list_partition_values` → `validate_partition`
(one task per `data.partition_by` value). A partition that breaks an `error` rule
is quarantined until it is fixed or released (`ml-pipeline quarantine`).
"""

from ml_pipeline_airflow.dag_kinds import VALIDATION, build_dags

globals().update(build_dags(VALIDATION))
