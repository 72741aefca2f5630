"""
### Deployment pipelines

One `model_deployment_<model_name>` DAG per model, started by each new `challenger`
its training registers (an Asset event): `evaluate_challenger` (challenger vs champion
on the same fresh holdout) → `check_gates` → `run_canary` (staging serving instance) →
`promote_challenger` (aliases, production reload) → `verify_production` →
`watch_live_performance` (deferrable); `roll_back` runs on any failure after the
promotion began (not on a watch that could not judge: no verdict, no rollback).
`action=rollback` rolls back by hand through the same verified path.
"""

from ml_pipeline_airflow.dag_kinds import DEPLOYMENT, build_dags

globals().update(build_dags(DEPLOYMENT))
