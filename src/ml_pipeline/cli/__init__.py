"""``ml-pipeline``: generate data, check configs, validate partitions and run pipelines without Airflow.

One module per command group, each with a ``register(commands)`` that adds its sub-commands and binds each to its
handler (``set_defaults(handler=...)``); this module only assembles them. Handlers import what they need when they
run, so ``ml-pipeline --help`` stays instant.

The core's commands need nothing above the core: ``python -m ml_pipeline.cli`` runs them on their own. The
installed ``ml-pipeline`` script is ``ml_platform.pipeline_cli``, which calls :func:`main` with these groups plus the
platform's (``dlq``, ``alerts``, ``deployments``, ``rollback``), so the layers meet at the entry point and the core
never imports the layer above it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from ml_pipeline.cli import configs, data, drift, reproduce, serving, snapshots, training, validation
from ml_pipeline.process_logging import configure_logging

CommandGroup = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
"""A command group's ``register``: adds its sub-commands to the ``ml-pipeline`` parser."""

DESCRIPTION = "ml-pipeline: generate data, check configs, validate partitions and run pipelines without Airflow."

COMMAND_GROUPS: tuple[CommandGroup, ...] = (
    data.register, training.register, configs.register, validation.register, serving.register, drift.register,
    reproduce.register, snapshots.register,
)
"""The core's command groups, in the order ``--help`` lists them."""


def build_parser(groups: Sequence[CommandGroup] = COMMAND_GROUPS, description: str | None = None
                 ) -> argparse.ArgumentParser:
    """Build the ``ml-pipeline`` parser from command groups.

    Args:
        groups: Each group's ``register`` function, in the order ``--help`` lists them.
        description: The ``--help`` text (default: ``DESCRIPTION``).

    Returns:
        The parser; each sub-command carries its handler as ``args.handler``.
    """
    parser = argparse.ArgumentParser(prog="ml-pipeline", description=description or DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    for register in groups:
        register(commands)
    return parser


def main(argv: list[str] | None = None, groups: Sequence[CommandGroup] = COMMAND_GROUPS,
         description: str | None = None) -> int:
    """Parse ``argv`` and run the chosen command.

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).
        groups: The command groups to offer (the platform's entry point adds its own).
        description: The ``--help`` text.

    Returns:
        The process exit code: 1 for an error the pipeline raises on purpose (its message names what and the fix),
        printed as one line instead of a traceback.
    """
    from ml_pipeline.errors import PipelineError

    args = build_parser(groups, description).parse_args(argv)
    configure_logging()
    try:
        return args.handler(args)
    except PipelineError as exc:  # a stale partition, a down service after its retries, a refused hyperparameter
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        problem = storage_problem(exc) or service_problem(exc)
        if problem is None:
            raise
        print(f"error: {problem}", file=sys.stderr)
        return 1


S3_SETTINGS = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for S3-compatible storage such "
               "as MinIO), or give a local folder (--lake, ML_LAKE_URI)")


def storage_problem(exc: BaseException) -> str | None:
    """One line for an S3 lake this machine cannot use (no credentials, no endpoint), else None.

    Matched by class name along the exception's chain, so the command line imports no S3 library to know them.
    """
    from ml_pipeline.failures.classification import exception_chain

    for link in exception_chain(exc):
        name = type(link).__name__
        if name in ("NoCredentialsError", "PartialCredentialsError"):
            return f"S3 has no credentials on this machine ({name}: {link}): {S3_SETTINGS}"
        if name == "EndpointConnectionError":
            return (f"S3 does not answer ({link}): check AWS_ENDPOINT_URL and that the storage is up, or give a "
                    "local folder (--lake, ML_LAKE_URI)")
    return None


def service_problem(exc: BaseException) -> str | None:
    """One line for MLflow not answering (after the client's retries), else None.

    Only an ``MlflowException`` (subclasses included) raised to the command, which the failure classification calls
    transient (a refused connection, a timeout, HTTP 429 or 5xx): a command run by hand says how to bring MLflow
    back instead of a traceback. Anything else keeps its traceback.
    """
    if "mlflow" not in sys.modules:
        return None
    from mlflow.exceptions import MlflowException

    from ml_pipeline.failures.classification import is_transient, one_line

    if not isinstance(exc, MlflowException) or not is_transient(exc):
        return None
    return (f"MLflow does not answer ({one_line(exc, limit=400)}): start the platform (`make up`), or point "
            "--tracking-uri (or MLFLOW_TRACKING_URI) at a running MLflow server, then run the command again")
