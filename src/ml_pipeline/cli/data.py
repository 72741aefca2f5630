"""``ml-pipeline generate-data``: seeded daily partitions for the example models, drifted on purpose if asked."""

from __future__ import annotations

import argparse
import sys

from ml_pipeline.cli.options import add_lake_option, iso_date, positive_int, today


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``generate-data`` to the ``ml-pipeline`` parser."""
    gen = commands.add_parser("generate-data", help="write seeded daily transaction partitions")
    add_lake_option(gen)
    gen.add_argument("--dataset", default="transactions", choices=["transactions", "impressions"],
                     help="transactions (fraud detection) or impressions (recommendation)")
    gen.add_argument("--end-date", type=iso_date, default=today())
    gen.add_argument("--days", type=positive_int, default=7)
    gen.add_argument("--rows-per-day", type=positive_int, default=20_000,
                     help="rows of each day (at least 1: a day's partition is rewritten)")
    gen.add_argument("--seed", type=int, default=42)
    gen.add_argument("--drift", default=None, choices=["amount-inflation", "category-mix", "fraud-pattern"],
                     help="drift the transactions: a covariate shift of amounts, a changed category mix, or concept "
                          "drift (same inputs, different fraud); see ml_pipeline.data.drift_scenarios")
    gen.add_argument("--drift-from", type=iso_date, default=None, metavar="DATE",
                     help="with --drift: days on or after DATE drift, earlier ones do not (default: every day)")
    gen.set_defaults(handler=generate_data)


def generate_data(args: argparse.Namespace) -> int:
    """Write ``--days`` daily partitions of ``--dataset`` ending ``--end-date`` under the lake."""
    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri, to_uri

    if args.drift_from is not None and args.drift is None:
        print("error: --drift-from needs --drift (the scenario: amount-inflation, category-mix or fraud-pattern)",
              file=sys.stderr)
        return 2
    if args.drift is not None and args.dataset != "transactions":
        print(f"error: --drift applies to --dataset transactions only, not {args.dataset}", file=sys.stderr)
        return 2
    if args.end_date > today():
        print(f"error: --end-date {args.end_date} is after today ({today()}, UTC): generated data stands for days "
              "that have begun (a pipeline run for a later day is refused); give today or an earlier day",
              file=sys.stderr)
        return 2
    target = join_uri(to_uri(args.lake), args.dataset)
    try:
        files = generate_dataset(target, args.end_date, args.days, args.rows_per_day, args.seed, kind=args.dataset,
                                 drift=args.drift, drift_from=args.drift_from)
    except Exception as exc:  # noqa: BLE001 - a lake that cannot be written (a path, credentials, a scheme): one line
        print(f"error: cannot write under {target}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}; --lake "
              "(or ML_LAKE_URI) must be a folder or an s3:// URI this machine can write", file=sys.stderr)
        return 1
    print(f"wrote {len(files)} file(s) for {args.days} day(s) ending {args.end_date} under {target}")
    if args.drift is not None:
        print(f"drift '{args.drift}' from {args.drift_from or 'the first day'} on")
    return 0
