"""``ml-pipeline``: generate data and run pipelines without Airflow."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

DEFAULT_LAKE = os.environ.get("ML_LAKE_URI", ".platform/lake")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ml-pipeline`` console script."""
    parser = argparse.ArgumentParser(prog="ml-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate-data", help="write seeded daily transaction partitions")
    gen.add_argument("--lake", default=DEFAULT_LAKE, help="lake root URI or folder (env ML_LAKE_URI)")
    gen.add_argument("--dataset", default="transactions")
    gen.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.datetime.now(dt.UTC).date())
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--rows-per-day", type=int, default=20_000)
    gen.add_argument("--seed", type=int, default=42)
    run = commands.add_parser("run-training", help="run a training pipeline in this process (no Airflow)")
    run.add_argument("config", type=Path, help="model config YAML")
    run.add_argument("--date", type=dt.date.fromisoformat, default=dt.datetime.now(dt.UTC).date())
    run.add_argument("--lake", default=DEFAULT_LAKE)
    run.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"))
    run.add_argument("--run-id", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    return {"generate-data": _generate, "run-training": _run_training}[args.command](args)


def _generate(args: argparse.Namespace) -> int:
    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri, to_uri

    files = generate_dataset(join_uri(to_uri(args.lake), args.dataset), args.end_date, args.days,
                             args.rows_per_day, args.seed)
    print(f"wrote {len(files)} file(s) for {args.days} day(s) ending {args.end_date} under "
          f"{join_uri(to_uri(args.lake), args.dataset)}")
    return 0


def _run_training(args: argparse.Namespace) -> int:
    from ml_pipeline.config import ConfigError, load_model_config
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.pipelines.context import RunContext
    from ml_pipeline.pipelines.training import run_in_process

    try:
        config = load_model_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_id = args.run_id or f"local__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    ctx = RunContext(config, args.config.resolve(), args.date, to_uri(args.lake), args.tracking_uri,
                     config.training_dag_id, run_id)
    print(json.dumps(run_in_process(ctx), indent=2, default=str))
    return 0
