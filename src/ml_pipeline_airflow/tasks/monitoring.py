"""The monitoring pipeline's tasks: reference → check → record → alert / request a retraining (heavy imports inside).

Only an alert and a recovery (stable again after a warning or an alert) reach people: a warning is logged and
stored, a skipped check says why in its row and its log.
A retraining request is an Asset event (``<model>_retrain_requested``) that starts ``ml_training_<model>``; the
request carries its cause, which the training run keeps in its lineage (``lineage.trigger``).
"""

from __future__ import annotations

import logging

from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from ml_pipeline_airflow.runtime import run_classified, run_step

log = logging.getLogger(__name__)


@task(multiple_outputs=False)
def load_reference(config_path: str) -> dict:
    """The champion and its reference profile (computed once per version); skipped when there is no champion.

    A reference that cannot be read fails the task (alerted) once per version: while it stays unreadable, later runs
    are skipped with the same reason instead of alerting every hour.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.pipelines import monitoring

    try:
        reference = run_step(monitoring.load_reference, config_path)
    except AirflowFailException as exc:
        if isinstance(exc.__cause__, monitoring.ReferenceMissingError):
            _alert_once(config_path, exc.__cause__)
        raise
    if reference is None:
        raise AirflowSkipException("the model has no champion yet: nothing is served, so nothing is monitored "
                                   "(the first promotion starts the checks)")
    return reference


def _alert_once(config_path: str, error) -> None:
    """Record the unreadable reference as an ``error`` check; skip (no second alert) when the last check says so."""
    from ml_pipeline.config import load_model_config
    from ml_pipeline.monitoring.history import ERROR, MonitoringCheck
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    model = load_model_config(config_path).model_name
    history = PlatformDatabaseHook().monitoring
    last = run_classified(lambda: history.checks(model, 1))
    if last and last[-1].status == ERROR and last[-1].version == error.version:
        raise AirflowSkipException(f"still no reference for v{error.version} (alerted with check #{last[-1].id}): "
                                   f"{error}")
    dag_run = get_current_context()["dag_run"]
    run_classified(lambda: history.record(MonitoringCheck(model, ERROR, str(error), version=error.version,
                                                          dag_id=dag_run.dag_id, run_id=dag_run.run_id)))


@task(multiple_outputs=False)
def check_window(config_path: str, reference: dict) -> dict:
    """Data, prediction and target drift and live performance over the newest window (skipped: nothing new)."""
    from ml_pipeline.pipelines import monitoring
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    history = PlatformDatabaseHook().monitoring  # a database that does not answer: retried, as a step's failure
    last = run_classified(lambda: history.last_judged(reference["model"], reference["version"]))
    return run_step(monitoring.check_window, config_path, reference, last.window_fingerprint if last else None)


@task(multiple_outputs=False)
def record_check(config_path: str, result: dict) -> dict:
    """The report (lake and MLflow), the ``model_monitoring`` row, and whether to retrain (cause, cooldown)."""
    from ml_pipeline.pipelines import monitoring
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    history = PlatformDatabaseHook().monitoring
    recorded = run_step(lambda ctx, r: monitoring.record_check(ctx, history, r), config_path, result,
                        step_name="record_check")
    log.info("check #%s of %s v%s: %s — %s (%s)", recorded["check_id"], recorded["model"], recorded["version"],
             recorded["status"], recorded["reason"], recorded["retrain_note"])
    return recorded


@task
def send_alert(config_path: str, recorded: dict) -> None:
    """Slack and e-mail on drift or decay (model, version, top features, report), or on a recovery; else skipped.

    A recovery is a stable check after a warning or an alert (``recorded["previous"]``): it is announced once,
    since the next stable check follows a stable one.
    """
    from ml_pipeline.config import load_model_config
    from ml_pipeline_airflow.notifications.alerts import notify_each
    from ml_pipeline_airflow.notifications.announcements import (
        announce,
        monitoring_notifiers,
        recovery_note,
        run_url,
    )

    recovered = recorded.get("recovered")
    if recorded["status"] != "alert" and not recovered:
        raise AirflowSkipException(f"check is {recorded['status']}: no alert ({recorded['reason']})")
    alerts = load_model_config(config_path).alerts
    context = get_current_context()
    dag_run = context["dag_run"]
    if recovered:
        announce(recovery_note(recorded, recorded["previous"], run_url(dag_run.dag_id, dag_run.run_id)), alerts,
                 context)
        return
    context["alert"] = {**recorded, "run_url": run_url(dag_run.dag_id, dag_run.run_id)}
    notify_each(monitoring_notifiers(alerts.slack_connection, alerts.email_connection, list(alerts.email_to)),
                context)


@task(multiple_outputs=False)
def request_retraining(recorded: dict) -> dict:
    """Update the model's ``retrain_requested`` asset (its training starts); skipped unless the check asked for it."""
    if not recorded["retrain_requested"]:
        raise AirflowSkipException(f"no retraining: {recorded['retrain_note']}")
    request = {"trigger": recorded["cause"], "model": recorded["model"], "version": recorded["version"],
               "check_id": recorded["check_id"], "days": [recorded["window_end"][:10]]}
    context = get_current_context()
    for outlet in context["outlets"]:
        context["outlet_events"][outlet].extra = request
    log.info("retraining of %s requested: %s", recorded["model"], request)
    return request
