"""``ml-pipeline generate-data``: seeded daily partitions for the example models."""

from __future__ import annotations

import argparse
import datetime as dt

from ml_pipeline.cli.options import add_lake_option, today


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``generate-data`` to the ``ml-pipeline`` parser."""
    gen = commands.add_parser("generate-data", help="write seeded daily transaction partitions")
    add_lake_option(gen)
    gen.add_argument("--dataset", default="transactions", choices=["transactions", "impressions"],
                     help="transactions (fraud detection) or impressions (recommendation)")
    gen.add_argument("--end-date", type=dt.date.fromisoformat, default=today())
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--rows-per-day", type=int, default=20_000)
    gen.add_argument("--seed", type=int, default=42)
    gen.set_defaults(handler=generate_data)


def generate_data(args: argparse.Namespace) -> int:
    """Write ``--days`` daily partitions of ``--dataset`` ending ``--end-date`` under the lake."""
    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri, to_uri

    target = join_uri(to_uri(args.lake), args.dataset)
    files = generate_dataset(target, args.end_date, args.days, args.rows_per_day, args.seed, kind=args.dataset)
    print(f"wrote {len(files)} file(s) for {args.days} day(s) ending {args.end_date} under {target}")
    return 0
