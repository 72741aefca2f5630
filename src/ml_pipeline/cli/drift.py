"""``ml-pipeline drift``: drift of a model's features between two partitions, with the monitoring's pinned methods.

The reference partition is profiled, the current one judged against it with the model's thresholds (its config's
``monitoring`` section). Derived features are computed from each partition's own raw rows, with the day before as
history when that partition sits beside it. Exit codes: 0 no feature at alert level; 1 a feature at alert level or
dataset drift; 2 bad input (an unknown model, a missing or empty partition, an unreadable file, a missing column or
one of another type), said in one line on stderr that names it and the fix.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.cli.options import add_lake_option, uri_map_from_env

if TYPE_CHECKING:
    import polars as pl

    from ml_pipeline.config import ModelConfig
    from ml_pipeline.monitoring.drift import DriftReport

CURRENT = "__current_partition"


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``drift`` to the ``ml-pipeline`` parser."""
    drift = commands.add_parser("drift", help="drift of a model's features between two partitions (exit 1 on alert)")
    drift.add_argument("--model", required=True, help="model name (its config in the config dir)")
    drift.add_argument("--reference", required=True, metavar="URI",
                       help="partition the model knows (folder of parquet files: path, file:// or s3://)")
    drift.add_argument("--current", required=True, metavar="URI", help="partition to judge against it")
    drift.add_argument("--json", action="store_true", help="print the report as JSON instead of the table")
    drift.add_argument("--report", type=Path, default=None, metavar="FILE.html",
                       help="also write the HTML report (a chart per drifted feature)")
    drift.add_argument("--config-dir", type=Path, default=None, metavar="DIR",
                       help="folder of model configs (default: ML_PIPELINE_CONFIG_DIR, else config/model_configs)")
    add_lake_option(drift, "lake root that s3://ml-data URIs map to (env ML_LAKE_URI)")
    drift.set_defaults(handler=judge_drift)


def judge_drift(args: argparse.Namespace) -> int:
    """Print (or write) the drift of ``--current`` against ``--reference``; 1 on alert, 2 on bad input."""
    from ml_pipeline.config import find_model_config
    from ml_pipeline.errors import PipelineError
    from ml_pipeline.monitoring.report import render_html

    if args.report is not None and (args.report.is_dir() or not args.report.parent.is_dir()):  # before the work
        why = ("is a folder: name the HTML file to write" if args.report.is_dir() else
               f"cannot be written: {args.report.parent} is no folder (create it, or name a file in an existing "
               "folder)")
        print(f"error: --report {args.report} {why}", file=sys.stderr)
        return 2
    try:
        config, _ = find_model_config(args.model, args.config_dir, fix="check --model or --config-dir")
        uris = {"reference": partition(args.reference, args.lake), "current": partition(args.current, args.lake)}
        report = drift_between(config, uris["reference"], uris["current"])
        if args.report is not None:
            title = f"{config.model_name}: drift of {uris['current']} against {uris['reference']}"
            args.report.write_text(render_html(report, title, uris))
    except (PipelineError, ValueError, OSError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"{config.model_name}: {uris['current']} ({report.current_rows:,} rows) against {uris['reference']} "
              f"({report.reference_rows:,} rows)")
        print(report.describe())
    if args.report is not None:
        print(f"report: {args.report}", file=sys.stderr if args.json else sys.stdout)
    return 1 if report.drifted or any(f.status == "alert" for f in report.features) else 0


def drift_between(config: ModelConfig, reference_uri: str, current_uri: str) -> DriftReport:
    """Drift of the model's features in ``current_uri`` against ``reference_uri``, with the config's thresholds."""
    from ml_pipeline.monitoring.drift import Thresholds, compare, profile

    monitoring, features = config.monitoring, list(config.data.features)
    with wrong_types(config, reference_uri):
        reference = profile(partition_features(config, reference_uri), features)
    levels = {name: Thresholds(**t.model_dump()) for name, t in monitoring.features.items()}
    default = Thresholds(**monitoring.thresholds.model_dump())
    with wrong_types(config, current_uri):
        current = partition_features(config, current_uri)
        return compare(reference, current, levels, monitoring.drift_share, default)


@contextlib.contextmanager
def wrong_types(config: ModelConfig, uri: str) -> Iterator[None]:
    """A column of a type the model's features cannot be computed from, said as bad input naming the partition."""
    import polars as pl

    from ml_pipeline.data.validator import DataValidationError

    try:
        yield
    except (pl.exceptions.PolarsError, TypeError) as exc:
        raise DataValidationError(
            f"partition {uri}: the model's features cannot be computed from its columns ({type(exc).__name__}: "
            f"{str(exc)[:200]}): a column has another type than the model's data; `ml-pipeline validate --model "
            f"{config.model_name} --data {uri}` names it") from exc


def partition_features(config: ModelConfig, uri: str) -> pl.DataFrame:
    """The model's features for the rows of one partition; windows read the day before when it is beside it."""
    import polars as pl

    from ml_pipeline.data.loader import load_partition
    from ml_pipeline.data.validator import require_columns
    from ml_pipeline.features.registry import build_features, required_input_columns, views_for
    from ml_pipeline.monitoring.drift import EmptyWindowError

    data = config.data
    rows = load_partition(uri)
    if rows.is_empty():
        raise EmptyWindowError(f"partition {uri} has no rows; pick a partition with data (or wait until it lands)")
    require_columns(rows, required_input_columns(data.features, data.feature_functions), where=f"partition {uri}")
    if not views_for(data.features, data.feature_functions):
        return rows
    frame, history = rows.with_columns(pl.lit(True).alias(CURRENT)), day_before(uri)
    if history is None:
        print(f"note: no partition of the day before {uri} beside it: its window features see only its own rows "
              "(the first hours lack history), which can show as drift", file=sys.stderr)
    else:
        frame = pl.concat([history.with_columns(pl.lit(False).alias(CURRENT)), frame], how="diagonal_relaxed")
    features = build_features(frame, data.features, data.feature_functions, data.timestamp_column)
    return features.filter(pl.col(CURRENT)).drop(CURRENT)


def day_before(uri: str) -> pl.DataFrame | None:
    """The rows of the daily partition before ``uri`` when one sits beside it (the windows' history), else None."""
    from ml_pipeline.data.lake import list_parquet_files
    from ml_pipeline.data.loader import load_partition, partition_day, partition_uri

    day = partition_day(uri)
    if day is None:
        return None
    previous = partition_uri(uri.rstrip("/").rsplit("/", 1)[0], day - dt.timedelta(days=1))
    return load_partition(previous) if list_parquet_files(previous) else None


def partition(location: str, lake: str) -> str:
    """A partition given as a path or a URI, as a URI (``s3://ml-data`` mapped to the lake as elsewhere)."""
    from ml_pipeline.data.lake import parse_uri_map, resolve_uri, to_uri

    return resolve_uri(to_uri(location), parse_uri_map(uri_map_from_env(to_uri(lake))))
