"""Paging: PagerDuty Events API v2 through the PagerDuty provider's notifier, for what needs a human now.

What pages: a production rollback, a rollback that failed, a model endpoint down (the platform-health DAG calls
``page``). Each event carries a ``dedup_key`` so that a later ``resolve`` with the same key closes the incident.
A model pages only when ``alerts.pagerduty_connection`` names a connection (default: never).

Where the events go: the provider's sync hook sends through the ``pagerduty`` package, whose client accepts only
``https://`` base URLs and defaults to ``https://events.pagerduty.com``; its async hook
(``PagerdutyEventsAsyncHook``, aiohttp through the HTTP provider) posts to its ``base_url`` attribute. So
``PagerdutyEventsNotifier`` always sends through the async hook, with ``base_url`` taken from the connection's
host when it has one (``https://events.eu.pagerduty.com`` for the EU service region, the platform's local sink
``http://127.0.0.1:<port>``) and PagerDuty's US endpoint otherwise. The routing (integration) key is the
connection's password, as for the provider.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from airflow.providers.pagerduty.notifications.pagerduty import PagerdutyNotifier

log = logging.getLogger(__name__)
EVENTS_API_URL = "https://events.pagerduty.com"
SEVERITIES = ("critical", "error", "warning", "info")


class PagerdutyEventsNotifier(PagerdutyNotifier):
    """The provider's ``PagerdutyNotifier``, sent to the Events API at the connection's host (default PagerDuty's).

    The event's fields arrive already written, so none is rendered as a Jinja template: an error message that
    happens to hold ``{{`` is sent as it is. Sent synchronously (a task, a callback) it runs the async path in an
    event loop of its own.
    """

    template_fields = ("pagerduty_events_conn_id",)

    def __init__(self, *, pagerduty_events_conn_id: str, **kwargs: Any) -> None:
        super().__init__(pagerduty_events_conn_id=pagerduty_events_conn_id, **kwargs)

    @property
    def events_api_url(self) -> str:
        """The Events API's base URL: the connection's host (with its port) when set, else PagerDuty's."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.pagerduty_events_conn_id)
        if not conn.host:
            return EVENTS_API_URL
        base = conn.host if "://" in conn.host else f"{conn.schema or 'https'}://{conn.host}"
        return f"{base.rstrip('/')}:{conn.port}" if conn.port else base.rstrip("/")

    def notify(self, context: Any) -> None:
        """Send the event (trigger, acknowledge or resolve) and log the dedup key PagerDuty answered."""
        self.hook_async.base_url = self.events_api_url
        run_coroutine(self.async_notify(context))
        log.info("paged %s: %s %s (dedup_key %s)", self.hook_async.base_url, self.action, self.summary,
                 self.dedup_key)


def run_coroutine(coroutine: Any) -> Any:
    """Run ``coroutine`` to its end from sync code, in a thread of its own when an event loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed to the caller's thread below
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="pagerduty-event")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def pagerduty_notifiers(conn_id: str | None, summary: str, *, severity: str = "critical", dedup_key: str,
                        source: str, action: str = "trigger", custom_details: dict[str, Any] | None = None,
                        links: list[dict[str, str]] | None = None) -> list[PagerdutyEventsNotifier]:
    """The notifier of one PagerDuty event on ``conn_id``; none when ``conn_id`` is None (the model never pages).

    Args:
        conn_id: The ``pagerduty_events`` connection (``alerts.pagerduty_connection``), or None.
        summary: What is wrong, one line (PagerDuty keeps 1024 characters).
        severity: ``critical``, ``error``, ``warning`` or ``info``.
        dedup_key: Identifies the incident: a trigger with a key already open adds to it, a resolve closes it.
        source: The system affected (a model, an endpoint).
        action: ``trigger``, ``acknowledge`` or ``resolve``.
        custom_details: Shown as a table in the incident.
        links: ``{"href": ..., "text": ...}`` each: the Airflow run, the MLflow version.
    """
    if not conn_id:
        return []
    if severity not in SEVERITIES:
        raise ValueError(f"PagerDuty severity {severity!r}: one of {', '.join(SEVERITIES)}")
    return [PagerdutyEventsNotifier(pagerduty_events_conn_id=conn_id, summary=summary[:1024], severity=severity,
                                    source=source, action=action, dedup_key=dedup_key,
                                    custom_details=custom_details or None, links=links or None)]


def page(conn_id: str | None, summary: str, *, dedup_key: str, source: str, severity: str = "critical",
         custom_details: dict[str, Any] | None = None, links: list[dict[str, str]] | None = None,
         context: Any = None) -> bool:
    """Trigger an incident on ``conn_id`` now; False (logged, never raised) when it could not be sent or is off.

    The platform-health DAG calls it for a model endpoint down (``dedup_key`` ``ml-platform/endpoint-down/<name>``) and
    ``resolve`` with the same key when the endpoint answers again.
    """
    return _send(pagerduty_notifiers(conn_id, summary, severity=severity, dedup_key=dedup_key, source=source,
                                     custom_details=custom_details, links=links), context)


def resolve(conn_id: str | None, dedup_key: str, *, source: str, summary: str = "resolved",
            context: Any = None) -> bool:
    """Close the incident ``dedup_key`` on ``conn_id``; False (logged, never raised) when not sent or off."""
    return _send(pagerduty_notifiers(conn_id, summary, severity="info", dedup_key=dedup_key, source=source,
                                     action="resolve"), context)


def _send(notifiers: list[PagerdutyEventsNotifier], context: Any) -> bool:
    """Send each notifier; a PagerDuty outage is logged, it never fails the caller."""
    sent = bool(notifiers)
    for notifier in notifiers:
        try:
            notifier(dict(context or {}))
        except Exception:
            log.exception("PagerDuty event %s for %s not sent", notifier.action, notifier.dedup_key)
            sent = False
    return sent


def rollback_failed_key(model: str) -> str:
    """The dedup key of a model's failed rollback: the model's next verified rollback resolves it."""
    return f"ml-platform/{model}/rollback-failed"


def page_rollback(conn_id: str | None, model: str, dag_id: str, run_id: str, run_url: str, result: dict) -> bool:
    """Page: production was rolled back (critical, one incident per run); a failed rollback's incident resolves."""
    to = f"v{result['to']}" if result.get("to") else "no champion"
    sent = page(conn_id, f"{model}: production rolled back v{result['from']} → {to}: {result['reason']}",
                dedup_key=f"ml-platform/{model}/rollback/{run_id}", source=model,
                custom_details={"model": model, "from": result["from"], "to": result.get("to"),
                                "reason": result["reason"], "dag_id": dag_id, "run_id": run_id},
                links=[{"href": run_url, "text": "Airflow run"}])
    resolve(conn_id, rollback_failed_key(model), source=model, summary=f"{model}: rollback to {to} verified")
    return sent


def page_rollback_failed(conn_id: str | None, model: str, dag_id: str, run_id: str, run_url: str, version: str,
                         reason: str, error: BaseException) -> bool:
    """Page: the rollback of ``version`` failed for good; production may serve it (critical, a human must act)."""
    from ml_pipeline.failures.classification import one_line

    return page(conn_id, f"{model}: rollback of v{version} FAILED: {one_line(error)}",
                dedup_key=rollback_failed_key(model), source=model,
                custom_details={"model": model, "version": version, "rollback_reason": reason,
                                "error": str(error)[:2000], "dag_id": dag_id, "run_id": run_id,
                                "next": "ml-pipeline dlq list; ml-pipeline deployments " + model},
                links=[{"href": run_url, "text": "Airflow run"}])
