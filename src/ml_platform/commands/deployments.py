"""``ml-pipeline deployments`` and ``rollback``: a model's promotion history, and putting a previous version back."""

from __future__ import annotations

import argparse
import sys

from ml_pipeline.cli.options import reason_text, version_number
from ml_platform.commands import reporting_errors


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``deployments`` and ``rollback`` to the ``ml-pipeline`` parser."""
    deployments = commands.add_parser("deployments", help="a model's promotions, rejections and rollbacks")
    deployments.add_argument("model")
    deployments.set_defaults(handler=show_deployments)
    rollback = commands.add_parser("rollback", help="put a previous version back in production (verified)")
    rollback.add_argument("model")
    rollback.add_argument("--to", type=version_number, default=None,
                          help="version to serve (default: previous_champion)")
    rollback.add_argument("--reason", type=reason_text, default="rolled back by hand",
                          help="kept in the promotion history")
    rollback.set_defaults(handler=roll_back)


def show_deployments(args: argparse.Namespace) -> int:
    """Print the model's registry aliases now, then its promotion history."""
    from mlflow.exceptions import MlflowException

    from ml_pipeline.deployment.history import describe
    from ml_pipeline.errors import PermanentError, TransientError
    from ml_platform import deployment_ops as ops
    from ml_platform.layout import Layout

    layout = Layout.from_env()
    try:
        aliases = ops.current_aliases(layout, args.model)
    except TransientError as exc:  # never "not registered yet" when the registry did not answer
        print(f"error: cannot read {args.model}'s aliases: {exc}; is MLflow up (`make status`)?", file=sys.stderr)
        return 1
    except (PermanentError, MlflowException) as exc:  # a tracking URI that is not MLflow's, a refusal (403)
        print(f"error: cannot read {args.model}'s aliases: {exc}", file=sys.stderr)
        return 1
    print(f"{args.model}: " + (", ".join(f"{alias} v{version}" for alias, version in aliases.items())
                               or "not registered yet"))
    print(describe(ops.history(layout, args.model)))
    return 0


@reporting_errors
def roll_back(args: argparse.Namespace) -> int:
    """Roll the model back through its deployment DAG and wait; exit 1 unless the rollback was verified."""
    from ml_platform import deployment_ops as ops
    from ml_platform.layout import Layout

    run = ops.rollback(Layout.from_env(), args.model, args.to, args.reason)
    if run.state != "success" or run.event is None:
        print(f"rollback run {run.run_id} of {run.dag_id} ended {run.state}: see its log in the Airflow UI",
              file=sys.stderr)
        return 1
    event = run.event
    print(f"{args.model}: v{event.from_version} → v{event.to_version} (verified, run {run.run_id}): {event.reason}")
    return 0
