"""``ml-pipeline serve``: a model's champion over HTTP, the process ``make up`` runs per endpoint."""

from __future__ import annotations

import argparse

from ml_pipeline.cli.options import port_number


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``ml-pipeline`` parser."""
    serve = commands.add_parser("serve", help="serve a model's champion over HTTP (what `make up` runs)")
    serve.add_argument("model")
    serve.add_argument("--port", type=port_number, default=8500)
    serve.add_argument("--version", default=None, help="serve this version only (no alias)")
    serve.set_defaults(handler=serve_model)


def serve_model(args: argparse.Namespace) -> int:
    """Run the model server in the foreground until it is stopped."""
    from ml_pipeline.deployment import serving

    serving.main(["--model", args.model, "--port", str(args.port),
                  *(["--version", args.version] if args.version else [])])
    return 0
