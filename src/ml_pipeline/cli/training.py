"""``ml-pipeline run-training``: a model's whole training pipeline in this process, without Airflow."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path

from ml_pipeline.cli.options import add_lake_option, add_tracking_uri_option, iso_date, today, uri_map_from_env

IN_PROCESS_PREFIX = "in_process_"
"""In-process runs are filed under ``in_process_<model>`` (their ``dag_id`` in the run folder, the idempotency key
and the lineage tags): the core does not know Airflow's DAG ids, and an in-process run is not a run of a DAG, so
its artifacts and MLflow lineage never pass for an Airflow run's."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``run-training`` to the ``ml-pipeline`` parser."""
    run = commands.add_parser("run-training", help="run a training pipeline in this process (no Airflow)")
    run.add_argument("config", type=Path, help="model config YAML")
    run.add_argument("--date", type=iso_date, default=today())
    add_lake_option(run)
    add_tracking_uri_option(run)
    run.add_argument("--run-id", default=None, help="default: local__<UTC timestamp>")
    run.set_defaults(handler=run_training)


def in_process_id(model_name: str) -> str:
    """The pipeline id an in-process run of ``model_name`` is recorded under (see ``IN_PROCESS_PREFIX``)."""
    return f"{IN_PROCESS_PREFIX}{model_name}"


def run_training(args: argparse.Namespace) -> int:
    """Run every training step of the config on ``--date``, print the summary as JSON."""
    from ml_pipeline.config import ConfigError, load_model_config
    from ml_pipeline.data.lake import parse_uri_map, to_uri
    from ml_pipeline.pipelines.context import RunContext
    from ml_pipeline.pipelines.training import run_in_process

    try:
        config = load_model_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_id = args.run_id or f"local__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    lake = to_uri(args.lake)
    ctx = RunContext(config, args.config.resolve(), args.date, lake, args.tracking_uri,
                     in_process_id(config.model_name), run_id, uri_map=parse_uri_map(uri_map_from_env(lake)))
    print(json.dumps(run_in_process(ctx), indent=2, default=str))
    return 0
