"""The training pipeline's steps: load, validate, engineer, train, evaluate, register.

Each step takes the ``RunContext`` and the typed references earlier steps returned (``results.py``: URIs, ids,
metrics) and returns one: data stays in the lake, so any orchestrator can run the steps on any machine, and
re-running a step for the same run gives the same result. ``snapshot`` freezes the input, ``validation`` gates
it, ``feature_table`` builds the features, ``model`` trains, evaluates and registers; ``same_inputs`` stops a
run started by an event whose inputs a version already learned.
"""

from __future__ import annotations

from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.feature_table import engineer_features
from ml_pipeline.pipelines.training.model import evaluate_model, register_model, summarize_run, train_model
from ml_pipeline.pipelines.training.results import RunSummary
from ml_pipeline.pipelines.training.same_inputs import trained_before
from ml_pipeline.pipelines.training.snapshot import combine_partitions, list_partitions, load_data
from ml_pipeline.pipelines.training.validation import STATUS_ORDER, validate_data

__all__ = ["STATUS_ORDER", "combine_partitions", "engineer_features", "evaluate_model", "list_partitions",
           "load_data", "register_model", "run_in_process", "summarize_run", "train_model", "trained_before",
           "validate_data"]


def run_in_process(ctx: RunContext) -> RunSummary:
    """Run every step in this process, in DAG order (no orchestrator); return the summary."""
    loaded = load_data(ctx)
    validate_data(ctx, loaded)
    features = engineer_features(ctx, loaded)
    trained = train_model(ctx, loaded, features)
    evaluation = evaluate_model(ctx, features, trained)
    registered = register_model(ctx, loaded, trained, evaluation)
    return summarize_run(ctx, loaded, trained, evaluation, registered)
