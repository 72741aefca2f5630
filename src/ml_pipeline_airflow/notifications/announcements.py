"""Announcements that close the loop: what a training run produced, what a deployment did, what monitoring saw.

Each announcement is a ``note`` (model, version, headline, lines, links) built by a pure function from what the
steps returned, and sent by the Slack and SMTP providers' notifiers (``channel_notifiers``) on the model's
channels (``alerts:``; a channel set to null sends nothing). The e-mails escape everything they show (Jinja's
``autoescape`` block), so a reason or a metric name holding ``<`` reads as text. A channel that fails is logged,
never fatal (``notify_each``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any, TypedDict

from ml_pipeline_airflow.notifications.alerts import channel_notifiers, notify_each

log = logging.getLogger(__name__)


class Link(TypedDict):
    """A link shown under the announcement."""

    text: str
    url: str


class Note(TypedDict):
    """What an announcement shows; ``icon`` is a Slack emoji."""

    model: str
    version: str | None
    icon: str
    headline: str
    lines: list[str]
    links: list[Link]


NOTE_TEXT = ("{{ note.icon }} *{{ note.model }}*{% if note.version %} v{{ note.version }}{% endif %}: "
             "{{ note.headline }}\n{% for line in note.lines %}{{ line }}\n{% endfor %}"
             "{% for link in note.links %}{{ link.text }}: {{ link.url }}\n{% endfor %}")
NOTE_SUBJECT = ("[ml-platform] {{ note.model }}{% if note.version %} v{{ note.version }}{% endif %}: "
                "{{ note.headline }}")
NOTE_HTML = ("{% autoescape true %}<p><b>{{ note.model }}</b>{% if note.version %} v{{ note.version }}{% endif %}: "
             "{{ note.headline }}</p><ul>{% for line in note.lines %}<li>{{ line }}</li>{% endfor %}</ul><p>"
             "{% for link in note.links %}{{ link.text }}: <a href=\"{{ link.url }}\">{{ link.url }}</a><br>"
             "{% endfor %}</p>{% endautoescape %}")


def announce(note: Note, alerts: Any, context: Any) -> None:
    """Send ``note`` to the Slack and e-mail channels of ``alerts`` (the model's ``AlertsConfig``)."""
    context["note"] = note
    notify_each(channel_notifiers(alerts.slack_connection, alerts.email_connection, list(alerts.email_to),
                                  NOTE_TEXT, NOTE_SUBJECT, NOTE_HTML), context)


def announce_from_task(config_path: str, build: Callable[[str, str, str | None], Note], version: str | None) -> None:
    """From a running task, send ``build(model, airflow_run_url, mlflow_version_url)``'s note to the model's channels.

    Never raises: an announcement that cannot be built or sent is logged; it must not fail (and so roll back, or
    retry) the step it reports on.
    """
    from airflow.sdk import get_current_context

    from ml_pipeline.config import load_model_config

    try:
        config = load_model_config(config_path)
        context = get_current_context()
        note = build(config.model_name, run_url(context["ti"].dag_id, context["ti"].run_id),
                     version_url(config.model_name, version))
        announce(note, config.alerts, context)
    except Exception:
        log.exception("announcement not sent")


def run_url(dag_id: str, run_id: str) -> str:
    """The Airflow UI's page of a DAG run (``[api] base_url``)."""
    from airflow.sdk.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    return f"{base}/dags/{dag_id}/runs/{run_id}"


def version_url(model: str, version: str | None) -> str | None:
    """The MLflow UI's page of a model version (``MLFLOW_TRACKING_URI``, else ``mlflow_default``), or None."""
    if not version:
        return None
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri:
        try:
            from ml_pipeline_airflow.hooks.mlflow import MlflowHook

            tracking_uri = MlflowHook().tracking_uri
        except Exception:  # no connection: the announcement goes out without the link
            log.warning("no MLflow tracking URI: the announcement has no link to the version")
            return None
    return f"{tracking_uri.rstrip('/')}/#/models/{model}/versions/{version}"


def links(airflow_url: str | None, mlflow_url: str | None) -> list[Link]:
    """The Airflow run and the MLflow version, those that are known."""
    found = [("Airflow run", airflow_url), ("MLflow version", mlflow_url)]
    return [{"text": text, "url": url} for text, url in found if url]


def versus(auc: float, champion: dict | None) -> str:
    """``AUC 0.9123 vs champion v3 0.9001 (+0.0122)``, or ``(no champion yet)``."""
    if not champion or champion.get("auc") is None:
        return f"AUC {auc:.4f} (no champion yet)"
    return f"AUC {auc:.4f} vs champion v{champion['version']} {champion['auc']:.4f} ({auc - champion['auc']:+.4f})"


def data_window(partitions: list[str], rows: int) -> str:
    """``Data: 6 days 2026-11-15 … 2026-11-20, 24,000 rows``."""
    if not partitions:
        return f"Data: {rows:,} rows"
    span = partitions[0] if len(partitions) == 1 else f"{partitions[0]} … {partitions[-1]}"
    days = f"{len(partitions)} day{'s' if len(partitions) != 1 else ''}"
    return f"Data: {days} {span}, {rows:,} rows"


def run_summary_note(summary: dict, champion: dict | None, airflow_url: str | None,
                     mlflow_url: str | None) -> Note:
    """A training run's summary: the version, holdout metrics vs the champion's, the decision, the data window."""
    metrics, decision = summary["metrics"], summary["decision"]
    others = ", ".join(f"{name} {value:.4f}" for name, value in metrics.items() if name != "auc")
    next_step = ("candidate: the deployment gates judge it next" if decision.get("promote")
                 else "not a candidate: the deployment gates will refuse it")
    return {"model": summary["model_name"], "version": str(summary["version"]),
            "icon": ":white_check_mark:" if decision.get("promote") else ":information_source:",
            "headline": f"trained and registered ({decision['reason']})",
            "lines": [f"Holdout: {versus(metrics['auc'], champion)}", *([f"Also: {others}"] if others else []),
                      f"Decision: {next_step}; aliases {', '.join(summary.get('aliases') or []) or 'none'}",
                      f"{data_window(summary.get('partitions') or [], summary['rows'])}; snapshot "
                      f"{summary['snapshot_uri']} (hash {summary['data_hash'][:12]})"],
            "links": links(airflow_url, mlflow_url)}


def learned_before_note(learned: Any, airflow_url: str | None, mlflow_url: str | None) -> Note:
    """A retraining request (drift, decay) that trained nothing: the version that already learned its inputs."""
    return {"model": learned.model, "version": learned.version, "icon": ":information_source:",
            "headline": f"retraining requested by {learned.trigger}: nothing new to train, this version already "
                        "learned exactly the same inputs",
            "lines": [learned.reason], "links": links(airflow_url, mlflow_url)}


def unjudged_note(model: str, version: str, reason: str, airflow_url: str | None, mlflow_url: str | None) -> Note:
    """The post-promotion watch could not judge the champion (data unreadable, too few rows): no rollback, the fix."""
    return {"model": model, "version": version, "icon": ":warning:",
            "headline": "champion not judged by the watch (no rollback)",
            "lines": [reason, f"History: `ml-pipeline deployments {model}`"], "links": links(airflow_url, mlflow_url)}


def promotion_note(evaluation: dict, airflow_url: str | None, mlflow_url: str | None) -> Note:
    """A challenger promoted and verified in production: its AUC against the champion it replaced."""
    challenger, champion = evaluation["challenger"], evaluation["champion"]
    before = f"replaces v{champion['version']}" if champion else "first champion"
    return {"model": evaluation["model"], "version": str(challenger["version"]), "icon": ":rocket:",
            "headline": f"promoted to champion ({before})",
            "lines": [f"Holdout: {versus(challenger['auc'], champion)} on {', '.join(evaluation['holdout']['days'])}"
                      f" ({evaluation['holdout']['rows']:,} rows)", f"Gates: {evaluation['decision']['reason']}"],
            "links": links(airflow_url, mlflow_url)}


def rejection_note(evaluation: dict, airflow_url: str | None, mlflow_url: str | None) -> Note:
    """A challenger the gates refused: which gate, and the numbers."""
    challenger, decision = evaluation["challenger"], evaluation["decision"]
    gate = ("min_auc_threshold" if not decision.get("passes_threshold", True)
            else "beat the champion" if not decision.get("beats_champion", True) else "already champion")
    return {"model": evaluation["model"], "version": str(challenger["version"]), "icon": ":no_entry:",
            "headline": f"rejected by the gates ({gate}): {decision['reason']}",
            "lines": [f"Holdout: {versus(challenger['auc'], evaluation['champion'])} on "
                      f"{', '.join(evaluation['holdout']['days'])} ({evaluation['holdout']['rows']:,} rows)",
                      f"Gates: min_auc_threshold {decision['min_auc_threshold']}, margin over the champion "
                      f"{decision['min_auc_improvement']}", "The champion stays in production."],
            "links": links(airflow_url, mlflow_url)}


def rollback_note(model: str, result: dict, how: str, airflow_url: str | None, mlflow_url: str | None) -> Note:
    """A rollback (``how``: ``rolled back`` or ``rolled back by hand``), verified: from, to and why."""
    to = f"v{result['to']}" if result.get("to") else "no champion"
    return {"model": model, "version": result.get("from"), "icon": ":arrows_counterclockwise:",
            "headline": f"{how} v{result['from']} → {to} (verified): {result['reason']}",
            "lines": [f"Production serves {to} again." if result.get("to") else "No champion is served now.",
                      f"History: `ml-pipeline deployments {model}`"],
            "links": links(airflow_url, mlflow_url)}


def recovery_note(recorded: dict, previous: dict, airflow_url: str | None) -> Note:
    """Monitoring back to stable after a drift or decay alert (or a warning): what cleared, since which check."""
    report = [{"text": "Report", "url": recorded["report_url"]}] if recorded.get("report_url") else []
    return {"model": recorded["model"], "version": str(recorded["version"]), "icon": ":large_green_circle:",
            "headline": f"recovered: stable again after {previous['status']} (check #{previous['check_id']})",
            "lines": [f"Now: {recorded['reason']}", f"Before: {previous['reason']}",
                      f"Window to {(recorded.get('window_end') or '')[:16]} UTC; trend: "
                      f"`ml-pipeline monitor {recorded['model']}`"],
            "links": [*links(airflow_url, None), *report]}


MONITORING_TEXT = (
    ":rotating_light: *{{ alert.model }}* v{{ alert.version }}: {{ alert.cause }} detected "
    "(window to {{ alert.window_end[:16] }} UTC)\n"
    "{% for f in alert.top_features %}• `{{ f.feature }}` {{ f.method }} {{ '%.3f' | format(f.score) }} "
    "(warn {{ f.warn }}, alert {{ f.alert }}): {{ f.status }}\n{% endfor %}"
    "{{ alert.live.reason }}\n"
    "Retraining: {{ alert.retrain_note }}\n"
    "Report: {{ alert.report_uri }}\nMLflow: {{ alert.report_url }}\n"
    "DAG `{{ ti.dag_id }}` · run `{{ ti.run_id }}` · trend: `ml-pipeline monitor {{ alert.model }}`"
    "{% if alert.run_url %}\nAirflow run: {{ alert.run_url }}{% endif %}")
MONITORING_SUBJECT = ("[ml-platform] {{ alert.model }} v{{ alert.version }}: {{ alert.cause }} — "
                      "{{ alert.top_features | map(attribute='feature') | join(', ') or alert.reason[:120] }}")
MONITORING_HTML = "{% autoescape true %}<pre>" + MONITORING_TEXT + "</pre>{% endautoescape %}"


def monitoring_notifiers(slack_conn_id: str | None, smtp_conn_id: str | None, email_to: list[str]) -> list[Any]:
    """Slack and email notifiers for a drift or decay alert (``alert`` is the recorded check)."""
    return channel_notifiers(slack_conn_id, smtp_conn_id, email_to, MONITORING_TEXT, MONITORING_SUBJECT,
                             MONITORING_HTML)
