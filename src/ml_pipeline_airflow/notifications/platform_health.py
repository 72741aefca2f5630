"""Announcements of ``monitoring_ml_pipelines``: what started, escalated or recovered since its previous run.

One message per channel and run (twenty problems starting at once are one message, not twenty), sent only on
transitions, so a problem that lasts a day is announced when it starts and when it clears. A model endpoint that
stops answering also pages (``pagerduty_connection``), and its incident is resolved when it answers again.
"""

from __future__ import annotations

from typing import Any

from ml_pipeline_airflow.notifications.alerts import channel_notifiers, notify_each
from ml_pipeline_airflow.notifications.pagerduty import page, resolve

ICONS = {"started": ":red_circle:", "escalated": ":rotating_light:", "recovered": ":large_green_circle:"}
TEXT = (
    "*Platform health* ({{ alert.started }} new, {{ alert.recovered }} recovered; {{ alert.open }} open)\n"
    "{% for c in alert.changes %}{{ c.icon }} {{ c.transition }} · {{ c.status }} · `{{ c.check }}` "
    "{{ c.message }}\n{% endfor %}"
    "Dashboard: {{ alert.dashboard_url }} · run `{{ ti.dag_id }}` / `{{ ti.run_id }}`")
SUBJECT = ("[ml-platform] platform health: {{ alert.started }} new, {{ alert.recovered }} recovered — "
           "{{ alert.changes | map(attribute='subject') | join(', ') | truncate(120) }}")
HTML = (  # autoescape: every value (a check's message holds exception text) reads as text
    "{% autoescape true %}<p><b>Platform health</b>: {{ alert.started }} new, {{ alert.recovered }} recovered, "
    "{{ alert.open }} open.</p><ul>{% for c in alert.changes %}<li><b>{{ c.transition }}</b> ({{ c.status }}) "
    "<code>{{ c.check }}</code> {{ c.message }}</li>{% endfor %}</ul>"
    "<p><a href=\"{{ alert.dashboard_url }}\">Dashboard</a></p>{% endautoescape %}")


def announce(changes: list[Any], settings: Any, context: Any, open_problems: int | None = None) -> None:
    """Send the run's transitions (``HealthFinding``s) to the platform's channels; page for endpoints.

    ``open_problems``: how many problems are open after this run (all checks, not only the changed ones).
    """
    if not changes:
        return
    from airflow.sdk.configuration import conf

    base = conf.get("api", "base_url", fallback="http://localhost:8080").rstrip("/")
    context["alert"] = {
        "changes": [{"icon": ICONS.get(c.transition, ""), "transition": c.transition, "status": c.status,
                     "check": c.check, "subject": c.subject, "message": c.message} for c in changes],
        "started": sum(c.transition != "recovered" for c in changes),
        "recovered": sum(c.transition == "recovered" for c in changes),
        "open": open_problems if open_problems is not None else sum(c.status != "ok" for c in changes),
        "dashboard_url": f"{base}/ml-platform/platform"}
    notify_each(channel_notifiers(settings.slack_connection, settings.email_connection, list(settings.email_to),
                                  TEXT, SUBJECT, HTML), context)
    for change in changes:
        if change.check != "endpoint":
            continue
        key = f"ml-platform/endpoint-down/{change.subject}"
        if change.transition == "recovered":
            resolve(settings.pagerduty_connection, key, source=change.subject, summary=change.message,
                    context=context)
        elif change.transition == "started":
            page(settings.pagerduty_connection, change.message, dedup_key=key, source=change.subject,
                 custom_details=change.data, context=context)
