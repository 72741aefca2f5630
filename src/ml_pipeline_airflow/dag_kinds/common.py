"""What every kind's DAGs share: task defaults, alerts, cron timetables and the assets that link the kinds."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import Asset, CronTriggerTimetable

from ml_pipeline.config import ModelConfig
from ml_pipeline_airflow.notifications.alerts import DagRunFailureAlert, TaskFailureAlert
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY


def default_args(config: ModelConfig) -> dict:
    """Task defaults: transient failures retried with exponential backoff, everything else failed at once.

    The backoff is 30 s, 60 s, 120 s … at most 10 min by default. A task that fails for good goes to the DLQ, Slack
    and email.
    """
    alerts = config.alerts
    return {"owner": config.owner, "retries": config.retries,
            "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds),
            "retry_exponential_backoff": config.retry_backoff,
            "max_retry_delay": dt.timedelta(seconds=config.max_retry_delay_seconds),
            "retry_policy": TRANSIENT_ONLY, "execution_timeout": dt.timedelta(hours=2),
            "on_failure_callback": [TaskFailureAlert(config.model_name, alerts.slack_connection,
                                                     alerts.email_connection, list(alerts.email_to))]}


def dag_arguments(config: ModelConfig, kind_tag: str) -> dict:
    """What every model DAG of every kind is built with: one run at a time, no catch-up, the model's tags, alerts.

    ``auto_register=False``: Airflow would otherwise register a DAG whose ``with`` block raised half-way, beside the
    config-error DAG the loader builds instead; the loader hands Airflow exactly the DAGs it returns.
    ``is_paused_upon_creation``: a disabled model's DAGs appear paused; an enabled one's follow Airflow's
    ``[core] dags_are_paused_at_creation``, which the platform sets to False (adding a model is adding a file: it
    runs on its schedules from the start; an operator who wants to review new DAGs first sets it True). Airflow
    applies it only when it first sees a DAG: a later change of ``enabled`` is applied by the platform's supervisor
    (``ml_platform.model_switches``).
    """
    return {"catchup": False, "auto_register": False, "max_active_runs": 1,
            "is_paused_upon_creation": None if config.enabled else True,
            "tags": ["ml", kind_tag, config.model_name], "default_args": default_args(config),
            "on_failure_callback": run_failure_alert(config)}


def run_failure_alert(config: ModelConfig) -> DagRunFailureAlert:
    """The DAG-level alert of a failed run (on top of the task-level ones)."""
    alerts = config.alerts
    return DagRunFailureAlert(config.model_name, alerts.slack_connection, alerts.email_connection,
                              list(alerts.email_to))


def timetable(cron: str | None) -> CronTriggerTimetable | None:
    """Cron in UTC; unpausing waits for the next slot.

    Airflow's default (``run_immediately=False``) still runs the last slot when it is less than a tenth of the
    period old: a daily DAG unpaused at 02:01 ran at once.
    """
    if cron is None:
        return None
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=dt.timedelta(0))


def feature_asset(config: ModelConfig) -> Asset:
    """The Airflow Asset of a model's features in the store: its feature DAG produces it, training consumes it."""
    return Asset(name=f"{config.model_name}_features", uri=f"feast://ml_platform/{config.model_name}",
                 group="features")


def challenger_asset(config: ModelConfig) -> Asset:
    """The Airflow Asset of a model's newest registered version: training produces it, deployment consumes it."""
    return Asset(name=f"{config.model_name}_challenger", uri=f"mlflow://models/{config.model_name}/challenger",
                 group="models")


def retrain_asset(config: ModelConfig) -> Asset:
    """The Airflow Asset of a retraining request: monitoring produces it on drift or decay, training consumes it."""
    return Asset(name=f"{config.model_name}_retrain_requested",
                 uri=f"mlflow://models/{config.model_name}/retrain_requested", group="models")
