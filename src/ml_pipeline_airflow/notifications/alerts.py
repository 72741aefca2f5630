"""Failure alerts: the dead-letter queue first, then Slack and email, through the providers' notifiers.

Announcements (run summaries, deployments, monitoring) are in ``announcements``, paging in ``pagerduty``.
``TaskFailureAlert`` is a task's ``on_failure_callback``: Airflow calls it in the worker right after the
final failure (not after a failure that will be retried), so the message leaves within a second. It adds
``alert`` (model, one-line error) to the context, then runs each notifier; one channel failing never stops
the others. The notifiers are built when a failure happens, so parsing a DAG imports no Slack or SMTP code.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

SLACK_TEXT = (
    ":red_circle: *{{ alert.model }}*: task `{{ ti.task_id }}{{ alert.map_label }}` failed for good "
    "(try {{ ti.try_number }}, {{ alert.retry_note }})\n"
    "DAG `{{ ti.dag_id }}` · run `{{ ti.run_id }}`\n"
    "Error: {{ alert.summary }}\n"
    "Log: {{ ti.log_url }}"
)
EMAIL_SUBJECT = "[ml-platform] {{ alert.model }}: {{ ti.dag_id }}.{{ ti.task_id }} failed: {{ alert.summary }}"
EMAIL_HTML = (  # autoescape: an error message holding "<" or "&" reads as text
    "{% autoescape true %}<p><b>{{ alert.model }}</b>: task <code>{{ ti.task_id }}{{ alert.map_label }}</code> of DAG "
    "<code>{{ ti.dag_id }}</code> failed for good (try {{ ti.try_number }}, {{ alert.retry_note }}).</p>"
    "<p>Run: <code>{{ ti.run_id }}</code><br>Error: {{ alert.summary }}<br>"
    "Log: <a href=\"{{ ti.log_url }}\">{{ ti.log_url }}</a></p>"
    "<pre>{{ alert.details }}</pre>"
    "<p>Replay it with <code>ml-pipeline dlq list</code> and <code>ml-pipeline dlq replay ID</code>.</p>"
    "{% endautoescape %}"
)


@dataclass
class TaskFailureAlert:
    """A task's failure callback: record it in the dead-letter queue, then alert on Slack and by email."""

    model: str
    slack_conn_id: str | None = "slack_alerts"
    smtp_conn_id: str | None = "smtp_default"
    email_to: list[str] = field(default_factory=list)

    def __call__(self, context: Any) -> None:
        from ml_pipeline_airflow.notifications.dead_letter import DeadLetterNotifier

        context["alert"] = alert_fields(self.model, context)
        notify_each([DeadLetterNotifier(model=self.model)], context)
        if context.get("dead_letter", {}).get("repeat"):
            # Airflow 3.3 calls the failure callback of a task whose process died twice (heartbeat timeout, then
            # the executor's "failed"): the attempt is recorded and was alerted already
            log.info("attempt already recorded (dead letter %s) and alerted: no second alert",
                     context["dead_letter"]["id"])
            return
        notify_each(channel_notifiers(self.slack_conn_id, self.smtp_conn_id, self.email_to, SLACK_TEXT,
                                      EMAIL_SUBJECT, EMAIL_HTML), context)


def channel_notifiers(slack_conn_id: str | None, smtp_conn_id: str | None, email_to: list[str], text: str,
                      subject: str, html: str) -> list[Any]:
    """The providers' Slack and SMTP notifiers for the configured channels."""
    notifiers: list[Any] = []
    if slack_conn_id:
        from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

        notifiers.append(SlackWebhookNotifier(slack_webhook_conn_id=slack_conn_id, text=text))
    if smtp_conn_id and email_to:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        notifiers.append(SmtpNotifier(to=email_to, smtp_conn_id=smtp_conn_id, subject=subject, html_content=html))
    return notifiers


def notify_each(notifiers: list[Any], context: Any) -> None:
    """Run every notifier; one channel down must not silence the others."""
    for notifier in notifiers:
        try:
            notifier(context)
        except Exception:
            log.exception("alert channel %s failed", type(notifier).__name__)


RUN_SLACK_TEXT = (":x: *{{ alert.model }}*: DAG run `{{ dag_run.dag_id }}` / `{{ dag_run.run_id }}` failed "
                  "({{ alert.reason }}). Failed tasks are in the dead-letter queue: `ml-pipeline dlq list`.\n"
                  "Run: {{ alert.run_url }}")
RUN_EMAIL_SUBJECT = "[ml-platform] {{ alert.model }}: DAG run {{ dag_run.dag_id }} / {{ dag_run.run_id }} failed"
RUN_EMAIL_HTML = "{% autoescape true %}<pre>" + RUN_SLACK_TEXT + "</pre>{% endautoescape %}"


@dataclass
class DagRunFailureAlert:
    """A DAG's ``on_failure_callback``: one Slack message and one email per failed run.

    Airflow runs DAG callbacks in the dag-processor, and they have known gaps in Airflow 3
    (apache/airflow#63374), so this comes on top of the task-level alerts, never instead of them.
    """

    model: str
    slack_conn_id: str | None = "slack_alerts"
    smtp_conn_id: str | None = "smtp_default"
    email_to: list[str] = field(default_factory=list)

    def __call__(self, context: Any) -> None:
        from airflow.sdk.configuration import conf

        dag_run = context["dag_run"]
        base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
        context["alert"] = {"model": self.model, "reason": context.get("reason") or "a task failed",
                            "run_url": f"{base}/dags/{dag_run.dag_id}/runs/{dag_run.run_id}"}
        notify_each(channel_notifiers(self.slack_conn_id, self.smtp_conn_id, self.email_to, RUN_SLACK_TEXT,
                                      RUN_EMAIL_SUBJECT, RUN_EMAIL_HTML), context)


def alert_fields(model: str, context: Any) -> dict[str, str]:
    """What every alert template shows: model, one-line error, full error, map index, why no retry."""
    from ml_pipeline.failures.classification import is_transient, one_line

    exception = context.get("exception")
    ti = context["ti"]
    if isinstance(exception, BaseException):
        summary, details = one_line(exception), str(exception)
        retry_note = "retries used up" if is_transient(exception) else "permanent error, not retried"
    else:
        summary = details = str(exception or "the task process died (killed or out of memory)")
        retry_note = "retries used up"
    map_index = getattr(ti, "map_index", -1)
    return {"model": model, "summary": summary, "details": details[:5000], "retry_note": retry_note,
            "map_label": f"[{map_index}]" if map_index is not None and map_index >= 0 else ""}


DEADLINE_TEXT = (":alarm_clock: *{model}*: DAG run `{{{{ dag_run.dag_id }}}}` / `{{{{ dag_run.dag_run_id }}}}` "
                 "missed its deadline of {minutes:g} min (due {{{{ deadline.deadline_time }}}}); it is still running "
                 "or queued.")


def run_deadline_alerts(model: str, alerts: Any, kind: str) -> list[Any]:
    """The ``deadline`` of a ``kind`` DAG run of ``model`` (``alerts.deadline_for``); none when it has none."""
    minutes = alerts.deadline_for(kind)
    if minutes is None:
        return []
    return deadline_alerts(model, minutes, alerts.slack_connection, alerts.email_connection, list(alerts.email_to))


def deadline_alerts(model: str, minutes: float, slack_conn_id: str | None, smtp_conn_id: str | None,
                    email_to: list[str]) -> list[Any]:
    """``DeadlineAlert``s (one per channel) for a DAG run still unfinished ``minutes`` after it was queued.

    The scheduler notices the missed deadline and the triggerer sends the providers' notifiers (async), so the
    alert goes out even while every worker slot is busy with the late run.
    """
    import datetime as dt

    from airflow.sdk import AsyncCallback, DeadlineAlert, DeadlineReference

    text = DEADLINE_TEXT.format(model=model, minutes=minutes)
    callbacks = []
    if slack_conn_id:
        callbacks.append(AsyncCallback("airflow.providers.slack.notifications.slack_webhook.SlackWebhookNotifier",
                                       kwargs={"slack_webhook_conn_id": slack_conn_id, "text": text}))
    if smtp_conn_id and email_to:
        callbacks.append(AsyncCallback("airflow.providers.smtp.notifications.smtp.SmtpNotifier",
                                       kwargs={"to": email_to, "smtp_conn_id": smtp_conn_id,
                                               "subject": f"[ml-platform] {model}: DAG run missed its deadline",
                                               "html_content": "{% autoescape true %}" + text +
                                                               "{% endautoescape %}"}))
    return [DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT, interval=dt.timedelta(minutes=minutes),
                          callback=callback) for callback in callbacks]
