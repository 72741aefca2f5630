"""``ml-pipeline reproduce MODEL VERSION``: rebuild a registered version from its lineage and prove it identical."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ml_pipeline.cli.options import add_tracking_uri_option, tolerance, version_number


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``reproduce`` to the ``ml-pipeline`` parser."""
    run = commands.add_parser(
        "reproduce", help="rebuild a registered model version from its lineage and verify it is identical",
        description="Rebuild MODEL's VERSION from what its training run recorded (the exact snapshot, the config as "
                    "it was, seeds and threads), then score the recorded holdout with both models. Exit 0 only when "
                    "every prediction and metric is identical; 1 when they differ; 2 when the rebuild is refused; "
                    "3 when nothing could be compared (MLflow or the lake unreachable, the model not loading), or an "
                    "identical rebuild could not be registered as --register asked (the note says why).")
    run.add_argument("model")
    run.add_argument("version", type=version_number)
    add_tracking_uri_option(run, "the MLflow server the version is registered in (env MLFLOW_TRACKING_URI)")
    run.add_argument("--allow-code-drift", action="store_true",
                     help="rebuild even when the installed code or libraries differ from those that trained it")
    run.add_argument("--register", action="store_true",
                     help="register an identical rebuild as a new version tagged reproduction.of_version")
    run.add_argument("--tolerance", type=tolerance, default=0.0,
                     help="largest |difference| of a holdout prediction counted as identical (default 0)")
    run.add_argument("--json", action="store_true", help="print the result as JSON")
    run.set_defaults(handler=reproduce_version)


def reproduce_version(args: argparse.Namespace) -> int:
    """Rebuild, compare, print; exit 0 when identical, 1 when not, 2 when refused, 3 when nothing was compared."""
    import contextlib

    from ml_pipeline.pipelines.reproduce import ReproductionRefusedError, reproduce

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        with contextlib.redirect_stdout(sys.stderr):  # MLflow prints run links: stdout is the result's alone
            result = reproduce(args.tracking_uri, args.model, args.version, allow_code_drift=args.allow_code_drift,
                               register=args.register, tolerance=args.tolerance)
    except ReproductionRefusedError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never 1, which says "different": a script must tell an outage from a changed model
        import traceback

        from ml_pipeline.cli import service_problem, storage_problem
        from ml_pipeline.errors import PipelineError

        problem = storage_problem(exc) or service_problem(exc) or (
            f"{type(exc).__name__}: {exc}" if isinstance(exc, PipelineError) else None)
        if problem is None:
            traceback.print_exc()
        print(f"error: {problem or 'the traceback above'}: nothing was compared (exit 3)", file=sys.stderr)
        return 3
    # identical, but the registration asked for failed: not 0 (nothing registered), nor 1 (not different)
    code = (3 if args.register and not result.registered_version else 0) if result.identical else 1
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return code
    verdict = "IDENTICAL" if result.identical else "DIFFERENT"
    print(f"{result.model} v{result.version} (MLflow run {result.run_id}): rebuilt in {result.seconds:.1f} s")
    print(f"  snapshot   {result.snapshot_uri}")
    print(f"             sha256 {result.data_hash} (verified)")
    print(f"  features   {result.features_source} (sha256 verified)")
    for line in result.software_differences or ["none: the code and libraries that trained it are installed"]:
        print(f"  software   {line}")
    print(f"  holdout    max |prediction difference| = {result.max_abs_difference:.3g} "
          f"(tolerance {result.tolerance:g})")
    for name, value in result.original_metrics.items():
        print(f"  {name:<13} {value:.10g} original, {result.rebuilt_metrics[name]:.10g} rebuilt")
    for note in result.notes:
        print(f"  note       {note}")
    if result.registered_version:
        print(f"  registered as {result.model} v{result.registered_version} (reproduction.of_version={result.version})")
    print(verdict)
    return code
