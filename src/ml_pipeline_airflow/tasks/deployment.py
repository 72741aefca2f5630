"""The deployment pipeline's tasks: gates, canary, promotion, verification, rollback (heavy imports inside).

A deployment failure after the champion moved is not sent to the dead-letter queue: ``roll_back`` puts the old
champion back, verifies it and alerts. Only a rollback that fails (a human must act) lands in the DLQ. A watch that
could not judge (``UNJUDGED_KEY``) is no verdict: no rollback, its own alert says what to fix.

Each outcome is announced on the model's Slack and e-mail (``announcements``): a rejection with the gate's
numbers, a verified promotion with its AUC against the old champion, a rollback with its reason. An automatic
rollback and a rollback that fails also page (``alerts.pagerduty_connection``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ml_pipeline_airflow.notifications import announcements
from ml_pipeline_airflow.runtime import run_step

log = logging.getLogger(__name__)
FAILURE_KEY = "failure"
UNJUDGED_KEY = "unjudged"  # the watch could not read its data: it failed with no verdict on the champion
ROLLBACK_SOURCES = ("promote_challenger", "verify_production", "watch_live_performance")


def run_deployment_step(step: Callable[..., Any], config_path: str, *args: Any) -> Any:
    """Run a core deployment step with the production target (endpoint URL, history database) of the model.

    Its lineage is emitted under the step's own name (``promote``, ``roll_back``: the endpoint's new version).
    A ``DeploymentError`` fails the task at once (it is a ``PermanentError``), its message kept in XCom for the
    rollback's record; an MLflow outage is a ``TransientError``, retried.
    """
    from ml_pipeline.pipelines.deployment import DeploymentError

    def with_target(ctx: Any, *results: Any) -> Any:
        try:
            return step(ctx, deployment_target(ctx.config), *results)
        except DeploymentError as exc:
            get_current_context()["ti"].xcom_push(key=FAILURE_KEY, value=str(exc))
            raise

    return run_step(with_target, config_path, *args, step_name=getattr(step, "__name__", None))


def deployment_target(config):
    """Where this model is served and its admin token (``serving_default`` connection), where its history is kept."""
    from ml_pipeline.pipelines.deployment import DeploymentTarget
    from ml_pipeline_airflow.hooks.model_serving import ModelServingHook
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    serving = ModelServingHook()
    url = serving.endpoint_url(config.deployment.endpoint_name)
    return DeploymentTarget(url, PlatformDatabaseHook().deployment_history,
                            admin_token=serving.admin_token() if url else None)


@task.branch
def choose_action() -> str:
    """Deploy the new challenger (asset event or ``version`` param), or roll back by hand (``action`` param)."""
    from ml_pipeline_airflow.runtime import run_classified

    context = get_current_context()
    run_classified(lambda: _check_conf(context))
    return "roll_back_by_hand" if context["params"].get("action") == "rollback" else "evaluate_challenger"


def _check_conf(context: Any) -> None:
    """``PermanentError`` for a conf that names an unknown key, or the other action's version (it would be ignored)."""
    from ml_pipeline.errors import PermanentError
    from ml_pipeline_airflow.runtime import refuse_unknown_conf

    refuse_unknown_conf(context)
    action = context["params"].get("action")
    ignored, other = ("version", "deploy") if action == "rollback" else ("to_version", "rollback")
    if context["params"].get(ignored):
        raise PermanentError(f"action={action} with {ignored}: {ignored} is for action={other} and would be ignored; "
                             "trigger it again with the action that takes it (nothing was done)")


def challenger_version(context: Any) -> str | None:
    """The version to deploy: the ``version`` param, else the newest one the triggering asset events name.

    None (the ``challenger`` alias) only when neither names one; an event's version of the wrong shape fails the run
    (``AssetEventError``) rather than deploying the alias instead.
    """
    from ml_pipeline_airflow.asset_events import event_versions

    if context["params"].get("version"):
        return version_param(context["params"]["version"])
    versions = event_versions(context)
    return max(versions, key=int) if versions else None


def version_param(value: Any) -> str:
    """A ``version``/``to_version`` param as MLflow names versions: ``3``.

    The schema passes ``3.0`` (JSON Schema takes it for an integer) and a trailing newline (its ``$``).
    """
    return str(int(value))


@task(multiple_outputs=False)
def evaluate_challenger(config_path: str) -> dict:
    """Score challenger and champion on the same fresh holdout; apply the threshold and margin gates."""
    from ml_pipeline.pipelines import deployment

    context = get_current_context()  # the version is read inside the step: a bad event fails it as permanent
    return run_step(lambda ctx: deployment.evaluate_challenger(ctx, challenger_version(context)), config_path,
                    step_name="evaluate_challenger")


@task.short_circuit
def check_gates(config_path: str, evaluation: dict) -> bool:
    """Stop here (downstream skipped, rejection recorded with the numbers) unless the challenger passed."""
    from ml_pipeline.pipelines import deployment

    decision = evaluation["decision"]
    numbers = (f"challenger v{evaluation['challenger']['version']} auc {decision['challenger_auc']:.4f}, champion "
               f"{'v' + evaluation['champion']['version'] if evaluation['champion'] else '(none)'} auc "
               f"{decision['champion_auc'] if decision['champion_auc'] is None else round(decision['champion_auc'], 4)}"
               f", min_auc_threshold {decision['min_auc_threshold']}, margin {decision['min_auc_improvement']}")
    if decision["promote"]:
        log.info("gates passed: %s; %s", decision["reason"], numbers)
        return True
    log.warning("challenger rejected: %s; %s", decision["reason"], numbers)
    run_deployment_step(deployment.record_rejection, config_path, evaluation)
    announcements.announce_from_task(config_path, lambda _, airflow, mlflow: announcements.rejection_note(
        evaluation, airflow, mlflow), evaluation["challenger"]["version"])
    return False


@task(multiple_outputs=False)
def run_canary(config_path: str, evaluation: dict) -> dict:
    """Serve the challenger in a staging instance and check real requests (errors, p95, scores = offline).

    The staging instance is started on this worker (``hooks.model_serving.launch_staging_server``).
    """
    from ml_pipeline.pipelines import deployment
    from ml_pipeline_airflow.hooks.model_serving import launch_staging_server

    def canary(ctx: Any, target: Any) -> dict:
        try:
            return deployment.run_canary(ctx, evaluation, launch_staging_server)
        except deployment.DeploymentError as exc:
            deployment.record_canary_failure(ctx, target, evaluation, str(exc))
            raise

    return run_deployment_step(canary, config_path)


@task(multiple_outputs=False, on_failure_callback=[])
def promote_challenger(config_path: str, evaluation: dict, canary: dict) -> dict:
    """Move ``champion`` (old one → ``previous_champion``), record it, make production serving reload."""
    from ml_pipeline.pipelines import deployment

    get_current_context()["ti"].xcom_push(key="started", value=evaluation["challenger"]["version"])
    return run_deployment_step(deployment.promote, config_path, evaluation, canary)


@task(multiple_outputs=False, on_failure_callback=[])
def verify_production(config_path: str, evaluation: dict, promoted: dict) -> dict:
    """Production ``/version`` reports the new version and smoke predictions succeed and match offline."""
    from ml_pipeline.pipelines import deployment

    verified = run_deployment_step(deployment.verify, config_path, evaluation, promoted["version"])
    announcements.announce_from_task(config_path, lambda _, airflow, mlflow: announcements.promotion_note(
        evaluation, airflow, mlflow), promoted["version"])
    return verified


@task(multiple_outputs=False, trigger_rule=TriggerRule.ONE_FAILED, retries=3)
def roll_back(config_path: str, evaluation: dict) -> dict:
    """Something failed after the promotion began: previous champion back (aliases, serving), verified, alert.

    Not when the watch failed without a verdict (data it cannot read), nor when another run moved the champion since
    this deployment (a later deployment, a rollback by hand: a cleared watch must not undo either; ``moved_on``).

    If this fails too, its failure alert puts the run in the dead-letter queue and it pages: a human must act.
    """
    from ml_pipeline.failures.classification import is_transient
    from ml_pipeline.pipelines import deployment
    from ml_pipeline_airflow.notifications import pagerduty

    ti = get_current_context()["ti"]
    if ti.xcom_pull(task_ids="promote_challenger", key="started") is None:
        raise AirflowSkipException("the champion never moved (an earlier step failed): nothing to roll back")
    if unjudged := ti.xcom_pull(task_ids="watch_live_performance", key=UNJUDGED_KEY):
        raise AirflowSkipException(f"no verdict on the champion, so no rollback: {unjudged}")
    failures = [f for f in ti.xcom_pull(task_ids=list(ROLLBACK_SOURCES), key=FAILURE_KEY) or [] if f]
    reason = "; ".join(failures) or "a step after the promotion failed (see its log)"
    try:
        moved = run_deployment_step(deployment.moved_on, config_path, evaluation)
        result = None if moved else run_deployment_step(deployment.roll_back, config_path, evaluation, reason)
    except Exception as exc:
        if not is_transient(exc) or ti.try_number > ti.max_tries:  # failed for good: a human must act now
            _page(config_path, pagerduty.page_rollback_failed, evaluation["challenger"]["version"], reason, exc)
        raise
    if result is None:
        raise AirflowSkipException(f"{moved}: nothing to roll back")
    announcements.announce_from_task(config_path, lambda model, airflow, mlflow: announcements.rollback_note(
        model, result, "rolled back", airflow, mlflow), result["from"])
    _page(config_path, pagerduty.page_rollback, result)
    return result


@task(multiple_outputs=False)
def roll_back_by_hand(config_path: str) -> dict:
    """``action=rollback``: champion back to ``to_version`` (default ``previous_champion``), verified, recorded."""
    from ml_pipeline.pipelines import deployment

    params = get_current_context()["params"]
    reason = f"manual rollback: {params.get('reason') or 'no reason given'}"
    to_version = version_param(params["to_version"]) if params.get("to_version") else None
    result = run_deployment_step(deployment.rollback_to, config_path, to_version, reason)
    announcements.announce_from_task(config_path, lambda model, airflow, mlflow: announcements.rollback_note(
        model, result, "rolled back by hand", airflow, mlflow), result["from"])
    return result


@task(trigger_rule=TriggerRule.ONE_FAILED, on_failure_callback=[], retries=0)
def fail_deployment() -> None:
    """Mark the run failed when any deployment step failed (rolled back or not): the run's state must say so.

    The failing step has already alerted, so this one does not.
    """
    raise AirflowFailException("a deployment step failed: see the failed task's log and `ml-pipeline deployments`")


def _page(config_path: str, send: Callable[..., bool], *args: Any) -> None:
    """``send(conn_id, model, dag_id, run_id, run_url, *args)`` on the model's PagerDuty connection, if any."""
    from ml_pipeline.config import load_model_config

    try:
        config = load_model_config(config_path)
        dag_run = get_current_context()["dag_run"]
        send(config.alerts.pagerduty_connection, config.model_name, dag_run.dag_id, dag_run.run_id,
             announcements.run_url(dag_run.dag_id, dag_run.run_id), *args)
    except Exception:
        log.exception("page not sent")
