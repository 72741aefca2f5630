"""Local stand-ins for Slack and an SMTP server: they receive alerts over real HTTP and SMTP and keep them.

An Airflow ``slackwebhook`` connection whose webhook URL points at ``http://127.0.0.1:<port>/…`` makes the
Slack provider's hook post here; an ``smtp`` connection to ``127.0.0.1:<port>`` sends mail here. Every message
is appended as one JSON object to ``alerts/received.jsonl`` (``ml-pipeline alerts`` lists them). In production
the connections point at Slack and the real mail server instead, and this process is not started.
"""

from __future__ import annotations

import argparse
import datetime as dt
import email
import email.policy
import json
import signal
import threading
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
    """Every message received so far, oldest first."""
    if not store.exists():
        return []
    return [json.loads(line) for line in store.read_text().splitlines() if line.strip()]


def slack_handler(store: Path) -> type[BaseHTTPRequestHandler]:
    """An HTTP handler that answers like Slack's incoming webhooks (``200 ok``) and records each payload."""

    class SlackWebhook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
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

        def log_message(self, format: str, *args) -> None:  # noqa: A002 (quiet: the store is the log)
            pass

    return SlackWebhook


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
    """Run both sinks on 127.0.0.1 until SIGTERM or SIGINT."""
    from aiosmtpd.controller import Controller

    store.parent.mkdir(parents=True, exist_ok=True)
    smtp = Controller(SmtpSink(store), hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", http_port), slack_handler(store))
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=http.shutdown).start())
    print(f"alert sinks: slack webhooks on http://127.0.0.1:{http_port}, smtp on 127.0.0.1:{smtp_port}, "
          f"storing in {store}", flush=True)
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
