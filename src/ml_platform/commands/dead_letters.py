"""``ml-pipeline dlq``: the dead-letter queue of a running platform, tasks that failed for good."""

from __future__ import annotations

import argparse

from ml_pipeline.cli.options import reason_text
from ml_platform.commands import reporting_errors


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``dlq list|show|replay|discard`` to the ``ml-pipeline`` parser."""
    dlq = commands.add_parser("dlq", help="the dead-letter queue: tasks that failed for good")
    actions = dlq.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="pending entries (every entry with --all)")
    listing.add_argument("--all", action="store_true")
    listing.add_argument("--model", default=None)
    listing.set_defaults(handler=list_dead_letters)
    for name, text, handler in (("show", "one entry in full", show_dead_letter),
                                ("replay", "re-run the failed task through Airflow", replay_dead_letter),
                                ("discard", "close an entry without re-running it (it is kept)", discard_dead_letter)):
        sub = actions.add_parser(name, help=text)
        sub.add_argument("id", type=int)
        if name == "discard":
            sub.add_argument("--reason", required=True, type=reason_text)
        sub.set_defaults(handler=handler)


@reporting_errors
def list_dead_letters(args: argparse.Namespace) -> int:
    """Print the pending dead letters (every one with ``--all``), two lines each."""
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    letters = ops.store(Layout.from_env()).list(status=None if args.all else "pending", model=args.model)
    if not letters:
        print("no dead letters" + ("" if args.all else " pending"))
    for letter in letters:
        first_line = letter.exception_message.splitlines()[0][:160] if letter.exception_message else ""
        mapped = "" if letter.map_index < 0 else f"[{letter.map_index}]"
        print(f"{letter.id:>5}  {letter.status:<9} {letter.created_at:%Y-%m-%d %H:%M:%S}  {letter.dag_id}."
              f"{letter.task_id}{mapped}  try {letter.try_number}  run {letter.run_id}\n"
              f"       {letter.exception_type}: {first_line}")
    return 0


@reporting_errors
def show_dead_letter(args: argparse.Namespace) -> int:
    """Print one dead letter in full: its run, inputs, conf and exception."""
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    print(ops.describe(ops.store(Layout.from_env()).get(args.id)))
    return 0


@reporting_errors
def replay_dead_letter(args: argparse.Namespace) -> int:
    """Re-run a dead letter's task through Airflow's REST API and mark it replayed."""
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    letter = ops.replay(Layout.from_env(), args.id)
    print(f"dead letter {letter.id}: {letter.status} ({letter.note})")
    return 0


@reporting_errors
def discard_dead_letter(args: argparse.Namespace) -> int:
    """Close a dead letter without re-running it; it is kept with the reason."""
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    letter = ops.discard(Layout.from_env(), args.id, args.reason)
    print(f"dead letter {letter.id}: {letter.status} ({letter.note})")
    return 0
