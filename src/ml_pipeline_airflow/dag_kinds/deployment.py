"""``model_deployment_<model>``: gates → canary → [approval] → promote → verify → watch; rollback on failure.

Started by each new challenger its training registers (an Asset event). One run at a time per model:
deployments never interleave. ``action=rollback`` rolls back by hand through the same verified path.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from airflow.sdk import DAG, Param, XComArg

from ml_pipeline.config import ModelConfig
from ml_pipeline.registry import VERSION_PATTERN
from ml_pipeline_airflow import dag_ids
from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.common import challenger_asset, dag_arguments
from ml_pipeline_airflow.dag_kinds.docs import deployment_doc
from ml_pipeline_airflow.notifications.alerts import run_deadline_alerts
from ml_pipeline_airflow.tasks import deployment

# a registered model's version: 1, 2, … as a number or its text (MLflow's own form); refused at trigger time
VERSION = {"type": ["null", "string", "integer"], "pattern": f"^{VERSION_PATTERN}$", "minimum": 1,
           "maximum": 9_999_999_999}
PARAMS = {
    "action": Param("deploy", enum=["deploy", "rollback"], description="deploy the challenger, or roll back the "
                                                                       "champion"),
    "version": Param(None, **VERSION, description="deploy this version (default: the asset event's, else the "
                                                  "challenger)"),
    "to_version": Param(None, **VERSION, description="rollback target (default: previous_champion)"),
    "reason": Param("", type="string", maxLength=500, description="why (kept in the promotion history)"),
}


def build_deployment_dag(config: ModelConfig, path: Path) -> DAG:
    """The model's deployment DAG."""
    from ml_pipeline_airflow.dag_kinds.training import TRAINING
    from ml_pipeline_airflow.sensors.model_performance import ModelPerformanceSensor

    watch = config.deployment.watch
    with DAG(
        dag_id=DEPLOYMENT.dag_id(config.model_name),
        description=f"Gate, canary, promote and watch each new {config.model_name} challenger",
        schedule=[challenger_asset(config)],
        deadline=run_deadline_alerts(config.model_name, config.alerts, "deployment"),
        **dag_arguments(config, "deployment"),
        params=dict(PARAMS),
        doc_md=deployment_doc(config, path, TRAINING.dag_id(config.model_name)),
    ) as dag:
        cfg = str(path)
        action = deployment.choose_action()
        evaluation = deployment.evaluate_challenger(cfg)
        canary = deployment.run_canary(cfg, evaluation)
        deployment.check_gates(cfg, evaluation) >> canary
        promoted = deployment.promote_challenger(cfg, evaluation, canary)
        if config.deployment.require_approval:
            canary >> _approval(config, evaluation) >> promoted
        verified = deployment.verify_production(cfg, evaluation, promoted)
        watched = ModelPerformanceSensor(
            task_id="watch_live_performance", config_path=cfg, evaluation=evaluation, on_failure_callback=[],
            timeout=watch.timeout_hours * 3600, poke_interval=watch.poke_interval_seconds,
            execution_timeout=dt.timedelta(hours=watch.timeout_hours + 1))
        verified >> watched
        rolled_back = deployment.roll_back(cfg, evaluation)
        [promoted, verified, watched] >> rolled_back
        manual = deployment.roll_back_by_hand(cfg)
        action >> [evaluation, manual]
        # The run fails when any step did (even when rolled back): leaves that skip would hide it otherwise.
        dag.tasks >> deployment.fail_deployment()
    return dag


def _approval(config: ModelConfig, evaluation: XComArg):
    """``deployment.require_approval``: a person approves the promotion in the Airflow UI (HITL).

    Rejecting skips the promotion. Unanswered for a day, it is rejected.
    """
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(
        task_id="approve_promotion", subject=f"Promote {config.model_name} to champion?",
        body=("Challenger v{{ ti.xcom_pull(task_ids='evaluate_challenger')['challenger']['version'] }}: "
              "{{ ti.xcom_pull(task_ids='evaluate_challenger')['decision']['reason'] }}. Canary: "
              "{{ ti.xcom_pull(task_ids='run_canary') }}"),
        defaults="Reject", response_timeout=dt.timedelta(days=1))


DEPLOYMENT = DagKind(name="deployment", prefix=dag_ids.DEPLOYMENT, build=build_deployment_dag,
                     deadline="deployment")
