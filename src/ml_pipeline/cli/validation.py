"""``ml-pipeline validate`` and ``quarantine``: a model's data rules, and the partitions they hold back.

``validate`` applies a model's data rules to one partition; ``quarantine`` covers the partitions the rules hold back
from training.
"""

from __future__ import annotations

import argparse
import json
import sys

from ml_pipeline.cli.options import add_lake_option, missing_lake, reason_text, uri_map_from_env


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``validate`` and ``quarantine list|release`` to the ``ml-pipeline`` parser."""
    val = commands.add_parser("validate", help="run a model's data validation rules on one partition")
    val.add_argument("--model", required=True, help="model name (its config in the config dir)")
    val.add_argument("--data", required=True, help="partition folder or parquet file (URI or path)")
    val.add_argument("--value", default=None, help="only the rows whose data.partition_by column has this value")
    add_lake_option(val, "lake root holding the quarantine (env ML_LAKE_URI)")
    val.set_defaults(handler=validate)
    quarantine = commands.add_parser("quarantine", help="partitions kept out of training by failed validation")
    actions = quarantine.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="quarantined partitions (all entries with --all)")
    listing.add_argument("--model", default=None)
    listing.add_argument("--all", action="store_true", help="also released and resolved entries")
    add_lake_option(listing)
    listing.set_defaults(handler=list_quarantine)
    release = actions.add_parser("release", help="let training use a quarantined partition as it is")
    release.add_argument("partition", help="entry id (from `list`) or the partition's URI")
    release.add_argument("--model", required=True)
    release.add_argument("--reason", required=True, type=reason_text,
                         help="why this data is acceptable (kept in the record)")
    add_lake_option(release)
    release.set_defaults(handler=release_partition)


def validate(args: argparse.Namespace) -> int:
    """Validate one partition; a blocking failure quarantines it and exits 1 (2 when it cannot be checked)."""
    from ml_pipeline.config import ConfigError, find_model_config
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.data.loader import DeletedPartitionError, MissingPartitionError, PartitionOutsideDataError
    from ml_pipeline.data.paths import UnsafePathError
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import validate_partition_uri
    from ml_pipeline.validation.rules import RulesError

    lake = to_uri(args.lake)
    try:
        config, path = find_model_config(args.model)
        if args.value is not None and not config.data.partition_by:
            raise ConfigError(f"--value: model {args.model} has no data.partition_by; validate the whole partition")
        report = validate_partition_uri(config, rules_for_model(config, path), data_uri(args.data, lake), lake,
                                        args.value)
    except (ConfigError, RulesError, MissingPartitionError, DeletedPartitionError, PartitionOutsideDataError,
            UnsafePathError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    for check in report.errors + report.warnings:
        print(f"  {check.line()}")
    print(f"report: {report.report_uri} (and report.json beside it)")
    if report.blocking:
        print(f"quarantined: release with `ml-pipeline quarantine release --model {args.model} {report.data_uri} "
              "--reason ...` once the data is accepted as it is")
    return 1 if report.blocking else 0


def list_quarantine(args: argparse.Namespace) -> int:
    """Print the quarantined partitions (every entry with ``--all``), with their failures."""
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.validation.quarantine import QuarantineStore

    problem = missing_lake(args.lake)
    if problem:  # "no quarantined partitions" would be a wrong answer
        print(f"error: {problem}", file=sys.stderr)
        return 2
    entries = QuarantineStore(to_uri(args.lake)).list(args.model, everything=args.all)
    if not entries:
        print("no quarantined partitions" + (f" for {args.model}" if args.model else ""))
    for entry in entries:
        print(f"{entry['status']:<12} {entry['model']:<20} {entry['id']}  since {entry['quarantined_at']}")
        print(f"             data:   {entry['data_uri']}" + (f" [{entry['scope']}]" if entry["scope"] else ""))
        print(f"             report: {entry['report_uri']}")
        for failure in entry["failures"]:
            print(f"             - {failure}")
    return 0


def release_partition(args: argparse.Namespace) -> int:
    """Let training use a quarantined partition as it is; the reason is kept in the record."""
    from ml_pipeline.config import ConfigError, find_model_config
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.features.registry import required_input_columns
    from ml_pipeline.validation.quarantine import QuarantineError, QuarantineStore

    lake = to_uri(args.lake)
    try:
        config, _ = find_model_config(args.model)
        data = config.data
        read = {*required_input_columns(data.features, data.feature_functions), data.target_column,
                data.timestamp_column}
    except ConfigError:  # a model whose config is gone: every column counts as read
        read = None
    try:
        entry = QuarantineStore(lake).release(args.model, data_uri(args.partition, lake), args.reason, read=read)
    except QuarantineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(entry, indent=2))
    return 0


def data_uri(location: str, lake: str) -> str:
    """A partition given as a path, a URI or an entry id, as the validators name it (``s3://ml-data`` mapped)."""
    from ml_pipeline.data.lake import parse_uri_map, resolve_uri, to_uri

    if "://" not in location and "/" not in location:
        return location  # a quarantine entry id
    uri = to_uri(location) if "://" not in location else location.rstrip("/")
    return resolve_uri(uri, parse_uri_map(uri_map_from_env(lake)))
