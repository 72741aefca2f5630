"""``ml-pipeline lineage``: where a model version came from and went, or what a lake partition's data reached.

The OpenLineage events come from the platform database (``lineage_events``, filled by the dashboard plugin's
receiver) or, with ``--events``, from a file of JSON lines (the file transport's ``<platform home>/lineage/
events.jsonl``, or any OpenLineage client's), so the graph can be read while the platform is down.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml_pipeline.cli.options import version_number


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``lineage`` to the ``ml-pipeline`` parser."""
    lineage = commands.add_parser(
        "lineage", help="a version's lineage (data → model → deployments), or what a partition reached",
        description="`ml-pipeline lineage MODEL VERSION`: partitions → validation → snapshot → features → MLflow run "
                    "→ version → deployments (endpoint, from → to) → monitoring checks. `ml-pipeline lineage "
                    "--partition URI`: every snapshot, model version and endpoint that data reached.")
    lineage.add_argument("model", nargs="?")
    lineage.add_argument("version", nargs="?", type=version_number)
    lineage.add_argument("--partition", metavar="URI", help="a lake partition (path, file:// or s3:// URI), or a "
                         "folder above several: what its data reached")
    lineage.add_argument("--events", metavar="FILE", type=Path,
                         help="read OpenLineage events from this JSON-lines file instead of the platform database")
    lineage.add_argument("--tracking-uri", default=None,
                         help="the MLflow server that registered the version (default: whichever did)")
    lineage.add_argument("--json", action="store_true", help="the lineage as JSON")
    lineage.set_defaults(handler=show_lineage)


def show_lineage(args: argparse.Namespace) -> int:
    """Print the version's lineage or the partition's reach; exit 1 when nothing is recorded or readable."""
    from ml_pipeline.lineage import describe, naming, queries

    if bool(args.partition) == bool(args.model):
        print("error: give MODEL VERSION, or --partition URI (not both)", file=sys.stderr)
        return 2
    if args.model and not args.version:
        print(f"error: which version of {args.model}? e.g. `ml-pipeline lineage {args.model} 1`", file=sys.stderr)
        return 2
    events = load_events(args.events)
    if events is None:
        return 1
    try:
        if args.partition:
            found = queries.partition_reach(events, args.partition)
            text = describe.describe_reach
        else:
            namespace = naming.mlflow_namespace(args.tracking_uri) if args.tracking_uri else None
            found = queries.version_lineage(events, namespace, args.model, args.version)
            text = describe.describe_version
    except (LookupError, ValueError) as exc:
        print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 1
    print(json.dumps(found.to_dict(), indent=2) if args.json else text(found))
    return 0


def load_events(path: Path | None) -> list[dict] | None:
    """The events of ``path``, else of the platform database; None (said why and what to do) when unreadable."""
    from ml_platform.layout import Layout

    layout = Layout.from_env()
    transport_file = layout.lineage_events_file
    if path is not None:
        from ml_pipeline.lineage.store import read_event_file

        if not path.is_file():
            print(f"error: no events file {path}" + (f"; the platform's file transport writes {transport_file}"
                                                     if transport_file != path else ""), file=sys.stderr)
            return None
        return read_event_file(path)
    from ml_pipeline.lineage.store import LineageStore
    from ml_platform import database

    try:
        return LineageStore(database.database_url(layout, "ml_platform")).events()
    except Exception as exc:  # server down, or a database older than lineage: say which, and what else to read
        fallback = (f"read the file transport's copy with `--events {transport_file}`" if transport_file.is_file()
                    else "read a file of OpenLineage events with `--events FILE`")
        print(f"error: cannot read lineage events from the platform database: {type(exc).__name__}: "
              f"{str(exc).splitlines()[0][:300] if str(exc) else ''}; is the platform up (`make status`)? "
              f"Without it, {fallback}", file=sys.stderr)
        return None
