"""``ml-pipeline serve``: a model's champion over HTTP, as the platform runs one per endpoint (or on a serving host)."""

from __future__ import annotations

import argparse
import os
import sys

from ml_pipeline.cli.options import port_number


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``serve`` to the ``ml-pipeline`` parser."""
    serve = commands.add_parser(
        "serve", help="serve a model's champion over HTTP (as the platform runs one per endpoint)",
        description="Serve MODEL's champion (or one --version) over HTTP, following the alias by itself. Behind a "
                    "load balancer: --host 0.0.0.0, and --prediction-log at the lake so that monitoring sees what "
                    "it scores. Limits and the admin token: the environment (docs/DAG_REFERENCE.md).")
    serve.add_argument("model")
    serve.add_argument("--port", type=port_number, default=8500)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                           "only; 0.0.0.0: every interface)")
    serve.add_argument("--version", default=None, help="serve this version only (no alias)")
    serve.add_argument("--prediction-log", metavar="LAKE_URI", default=None,
                       help="log every scored row under LAKE_URI/predictions/<model> for monitoring (default: env "
                            "ML_PREDICTION_LOG_URI, except with --version; unset: off)")
    serve.add_argument("--entity-key", default=None,
                       help="request field logged as each row's entity id (default: the model config's "
                            "monitoring.entity_key, when the config folder holds the model)")
    serve.set_defaults(handler=serve_model)


def serve_model(args: argparse.Namespace) -> int:
    """Run the model server in the foreground until it is stopped."""
    from ml_pipeline.deployment import serving

    argv = ["--model", args.model, "--port", str(args.port), "--host", args.host]
    argv += ["--version", args.version] if args.version else []
    argv += ["--prediction-log", args.prediction_log] if args.prediction_log else []
    if args.prediction_log or (not args.version and os.environ.get("ML_PREDICTION_LOG_URI")):  # the server's rule
        entity_key = args.entity_key or config_entity_key(args.model)
        argv += ["--entity-key", entity_key] if entity_key else []
    serving.main(argv)
    return 0


def config_entity_key(model: str) -> str | None:
    """The model config's ``monitoring.entity_key``; None, with a warning, when the config folder lacks the model."""
    from ml_pipeline.config import ConfigError, find_model_config

    try:
        config, _ = find_model_config(model)
    except (ConfigError, OSError) as exc:
        print(f"warning: predictions are logged without an entity id, so live performance cannot join them to "
              f"labels ({exc}): give --entity-key", file=sys.stderr)
        return None
    return config.monitoring.entity_key
