"""The deployment pipeline's tasks: gates, canary, promotion, verification, rollback (heavy imports inside).

A deployment failure after the champion moved is not sent to the dead-letter queue: ``roll_back`` puts the old
champion back, verifies it and alerts. Only a rollback that fails (a human must act) lands in the DLQ.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import TriggerRule, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ml_pipeline_airflow.runtime import run_step

if TYPE_CHECKING:
    from ml_pipeline.pipelines.deployment import StagingServer

log = logging.getLogger(__name__)
FAILURE_KEY = "failure"
ROLLBACK_SOURCES = ("promote_challenger", "verify_production", "watch_live_performance")


def run_deployment_step(step: Callable[..., Any], config_path: str, *args: Any) -> Any:
    """Run a core deployment step with the production target (endpoint URL, history database) of the model.

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

    return run_step(with_target, config_path, *args)


def deployment_target(config):
    """Where this model is served (``serving_default`` connection) and where its history is kept."""
    from ml_pipeline.pipelines.deployment import DeploymentTarget
    from ml_pipeline_airflow.hooks.model_serving import ModelServingHook
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    return DeploymentTarget(ModelServingHook().endpoint_url(config.deployment.endpoint_name),
                            PlatformDatabaseHook().deployment_history)


@task.branch
def choose_action() -> str:
    """Deploy the new challenger (asset event or ``version`` param), or roll back by hand (``action`` param)."""
    params = get_current_context()["params"]
    return "roll_back_by_hand" if params.get("action") == "rollback" else "evaluate_challenger"


def challenger_version(context: Any) -> str | None:
    """The version to deploy: the ``version`` param, else the newest one the triggering asset events name."""
    if context["params"].get("version"):
        return str(context["params"]["version"])
    versions = [str(event.extra["version"]) for events in (context.get("triggering_asset_events") or {}).values()
                for event in events if (event.extra or {}).get("version")]
    return max(versions, key=int) if versions else None


@task
def evaluate_challenger(config_path: str) -> dict:
    """Score challenger and champion on the same fresh holdout; apply the threshold and margin gates."""
    from ml_pipeline.pipelines import deployment

    return run_step(deployment.evaluate_challenger, config_path, challenger_version(get_current_context()))


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
    return False


@task
def run_canary(config_path: str, evaluation: dict) -> dict:
    """Serve the challenger in a staging instance and check real requests (errors, p95, scores = offline).

    The staging instance is started by ``launch_staging_server``, on this worker.
    """
    from ml_pipeline.pipelines import deployment

    def canary(ctx: Any, target: Any) -> dict:
        try:
            return deployment.run_canary(ctx, evaluation, launch_staging_server)
        except deployment.DeploymentError as exc:
            deployment.record_canary_failure(ctx, target, evaluation, str(exc))
            raise

    return run_deployment_step(canary, config_path)


@contextlib.contextmanager
def launch_staging_server(model: str, version: str, tracking_uri: str) -> Iterator[StagingServer]:
    """The canary's ``StagingLauncher``: a model server pinned to ``version`` on a free loopback port.

    Its log goes to the temp folder (``ml-serving-canary/``); the server is stopped when the canary ends.
    """
    from ml_pipeline.deployment.client import free_port, running_server
    from ml_pipeline.pipelines.deployment import StagingServer

    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "ml-serving-canary" / f"{model}-v{version}-{port}.log"
    with running_server(model, port, tracking_uri, log_path, version=version) as process:
        yield StagingServer(f"http://127.0.0.1:{port}", process, log_path)


@task(on_failure_callback=[])
def promote_challenger(config_path: str, evaluation: dict, canary: dict) -> dict:
    """Move ``champion`` (old one → ``previous_champion``), record it, make production serving reload."""
    from ml_pipeline.pipelines import deployment

    get_current_context()["ti"].xcom_push(key="started", value=evaluation["challenger"]["version"])
    return run_deployment_step(deployment.promote, config_path, evaluation, canary)


@task(on_failure_callback=[])
def verify_production(config_path: str, evaluation: dict, promoted: dict) -> dict:
    """Production ``/version`` reports the new version and smoke predictions succeed and match offline."""
    from ml_pipeline.pipelines import deployment

    return run_deployment_step(deployment.verify, config_path, evaluation, promoted["version"])


@task(trigger_rule=TriggerRule.ONE_FAILED, retries=3)
def roll_back(config_path: str, evaluation: dict) -> dict:
    """Something failed after the promotion began: previous champion back (aliases, serving), verified, alert.

    If this fails too, its failure alert puts the run in the dead-letter queue: a human must act.
    """
    from ml_pipeline.pipelines import deployment

    ti = get_current_context()["ti"]
    if ti.xcom_pull(task_ids="promote_challenger", key="started") is None:
        raise AirflowSkipException("the champion never moved (an earlier step failed): nothing to roll back")
    failures = [f for f in ti.xcom_pull(task_ids=list(ROLLBACK_SOURCES), key=FAILURE_KEY) or [] if f]
    reason = "; ".join(failures) or "a step after the promotion failed (see its log)"
    result = run_deployment_step(deployment.roll_back, config_path, evaluation, reason)
    send_deployment_alert(config_path, f"rolled back v{result['from']} → "
                                       f"{'v' + result['to'] if result['to'] else 'no champion'} (verified): {reason}")
    return result


@task
def roll_back_by_hand(config_path: str) -> dict:
    """``action=rollback``: champion back to ``to_version`` (default ``previous_champion``), verified, recorded."""
    from ml_pipeline.pipelines import deployment

    params = get_current_context()["params"]
    reason = f"manual rollback: {params.get('reason') or 'no reason given'}"
    to_version = str(params["to_version"]) if params.get("to_version") else None
    result = run_deployment_step(deployment.rollback_to, config_path, to_version, reason)
    send_deployment_alert(config_path, f"rolled back by hand v{result['from']} → v{result['to']} (verified): "
                                       f"{reason}")
    return result


@task(trigger_rule=TriggerRule.ONE_FAILED, on_failure_callback=[], retries=0)
def fail_deployment() -> None:
    """Mark the run failed when any deployment step failed (rolled back or not): the run's state must say so.

    The failing step has already alerted, so this one does not.
    """
    raise AirflowFailException("a deployment step failed: see the failed task's log and `ml-pipeline deployments`")


def send_deployment_alert(config_path: str, message: str) -> None:
    """Tell the model's Slack and email channels what the deployment did (alerting of the failure-handling work)."""
    from ml_pipeline.config import load_model_config
    from ml_pipeline_airflow.notifications.alerts import deployment_notifiers, notify_each

    config = load_model_config(config_path)
    context = get_current_context()
    context["alert"] = {"model": config.model_name, "summary": message}
    alerts = config.alerts
    notify_each(deployment_notifiers(alerts.slack_connection, alerts.email_connection, list(alerts.email_to)),
                context)
