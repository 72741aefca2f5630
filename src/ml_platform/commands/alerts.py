"""``ml-pipeline alerts``: what the running platform's local Slack and email sinks received."""

from __future__ import annotations

import argparse

from ml_platform.commands import reporting_errors


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``alerts`` to the ``ml-pipeline`` parser."""
    alerts = commands.add_parser("alerts", help="alerts the local Slack and email sinks received")
    alerts.set_defaults(handler=list_alerts)


@reporting_errors
def list_alerts(args: argparse.Namespace) -> int:
    """Print one line per alert received: when, which sink, its subject or first line."""
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    received = ops.alerts(Layout.from_env())
    if not received:
        print("no alerts received")
    for alert in received:
        first = next(iter(str(alert.get("subject") or alert.get("text") or "(no text)").splitlines()), "")[:200]
        print(f"{str(alert.get('received_at', '?'))[:19]}  {str(alert.get('channel', '?')):<6} {first}")
    return 0
