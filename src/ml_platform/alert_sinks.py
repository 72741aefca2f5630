"""Local stand-ins for Slack, PagerDuty and an SMTP server: they receive alerts over real HTTP and SMTP.

An Airflow ``slackwebhook`` connection whose webhook URL points at ``http://127.0.0.1:<port>/…`` makes the
Slack provider's hook post here; a ``pagerduty_events`` connection whose host is ``http://127.0.0.1:<port>``
sends PagerDuty Events API v2 events to ``POST /v2/enqueue`` on the same port, answered and validated as
PagerDuty does; an ``smtp`` connection to ``127.0.0.1:<port>`` sends mail here. Every message is appended as one
JSON object to ``alerts/received.jsonl`` (``ml-pipeline alerts`` lists them). In production the connections point
at Slack, PagerDuty and the real mail server instead, and this process is not started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import json
import logging
import signal
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def record(store: Path, message: dict) -> None:
    """Append one received message (with its arrival time) to the store."""
    line = json.dumps({"received_at": dt.datetime.now(dt.UTC).isoformat(), **message})
    with _lock, store.open("a") as handle:
        handle.write(line + "\n")
        handle.flush()


def read_alerts(store: Path) -> list[dict]:
    """Every message received so far, oldest first; a line that is not JSON (a write cut short) is skipped, said."""
    if not store.exists():
        return []
    if not store.is_file():
        raise ValueError(f"{store}: not a regular file (a folder?), not the alert sinks' file of received messages: "
                         "remove it (the sinks write it again at their next message)")
    alerts = []
    for number, line in enumerate(store.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            alert = json.loads(line)
        except json.JSONDecodeError:
            alert = None
        if isinstance(alert, dict):
            alerts.append(alert)
        else:
            logging.getLogger(__name__).warning("%s, line %d: not a JSON message (a write cut short?): skipped",
                                                store, number)
    return alerts


EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def pagerduty_event_errors(event: object) -> list[str]:
    """What makes ``event`` an invalid Events API v2 event (PagerDuty's wording), or ``[]`` when it is valid."""
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in EVENT_ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not 0 < len(dedup_key) <= 255):
        errors.append("'dedup_key' must be a string of 1 to 255 characters")
    if action in ("acknowledge", "resolve") and dedup_key is None:
        errors.append(f"'dedup_key' is required for event_action {action}")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for field in ("summary", "source"):
            if not isinstance(payload.get(field), str) or not payload[field].strip():
                errors.append(f"'payload.{field}' is missing or blank")
        if payload.get("severity") not in SEVERITIES:
            errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
    return errors


def alert_handler(store: Path) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler for Slack's incoming webhooks (``200 ok``) and PagerDuty's ``POST /v2/enqueue`` (202).

    Slack payloads are recorded as they come; a PagerDuty event only when it is valid (an invalid one gets
    PagerDuty's ``400 {"status": "invalid event", ...}`` and is not recorded).
    """

    class AlertWebhooks(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
            if self.path.rstrip("/") == "/v2/enqueue":
                self.pagerduty_event(body)
                return
            try:
                payload = json.loads(body)
            except ValueError:
                payload = {"raw": body}
            record(store, {"channel": "slack", "path": self.path, "text": payload.get("text", ""),
                           "payload": payload})
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok")

        def pagerduty_event(self, body: str) -> None:
            try:
                event = json.loads(body)
            except ValueError:
                self.answer(400, {"status": "invalid event", "message": "Event object is invalid",
                                  "errors": ["Request body is not valid JSON"]})
                return
            errors = pagerduty_event_errors(event)
            if errors:
                self.answer(400, {"status": "invalid event", "message": "Event object is invalid",
                                  "errors": errors})
                return
            dedup_key = event.get("dedup_key") or uuid.uuid4().hex
            payload = event.get("payload") or {}
            kept = {**event, "routing_key": "…" + str(event.get("routing_key", ""))[-4:]}  # no secret in the store
            record(store, {"channel": "pagerduty", "path": self.path, "event_action": event["event_action"],
                           "dedup_key": dedup_key, "text": payload.get("summary", ""),
                           "severity": payload.get("severity"), "source": payload.get("source"), "event": kept})
            self.answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup_key})

        def answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (quiet: the store is the log)
            pass

    return AlertWebhooks


class SmtpSink:
    """aiosmtpd handler: record each mail's envelope, subject and text."""

    def __init__(self, store: Path) -> None:
        self.store = store

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's naming)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain", "html"))
        record(self.store, {"channel": "email", "from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                            "subject": str(message.get("Subject", "")),
                            "text": body.get_content() if body is not None else ""})
        return "250 Message accepted for delivery"


def serve(http_port: int, smtp_port: int, store: Path) -> None:
    """Run the sinks (HTTP: Slack and PagerDuty; SMTP) on 127.0.0.1 until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller

    store.parent.mkdir(parents=True, exist_ok=True)
    smtp = Controller(SmtpSink(store), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), alert_handler(store))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=http.shutdown).start())
    print(f"alert sinks: slack webhooks and pagerduty events on http://127.0.0.1:{http_port}, smtp on "
          f"127.0.0.1:{smtp_port}, storing in {store}", flush=True)
    try:
        http.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        smtp.stop()
        http.server_close()


def main() -> None:
    """``python -m ml_platform.alert_sinks --http-port P --smtp-port Q --store FILE``."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--store", type=Path, required=True)
    args = parser.parse_args()
    serve(args.http_port, args.smtp_port, args.store)


if __name__ == "__main__":
    main()
