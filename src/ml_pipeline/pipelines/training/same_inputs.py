"""A run started by an event does not train again what a version already learned from the same inputs.

Two events often name the same data: a retraining request (drift, decay) waits for the features computed from the
day it names, and the feature update that computes them starts a training run of its own; a feature update trains
a new day at ``:05`` and the hourly check at ``:15`` finds that day drifted and requests a retraining on it. A
model's training runs never overlap (``max_active_runs`` 1), so the later run finds the version the earlier one
registered and stops before validating, waiting for features or training: retraining the same inputs would give
the same model, and a second challenger to deploy.

The inputs are what each version's lineage record keeps: the data's hash, the config's hash, the code (commit, and
the uncommitted difference's hash) and the versions of the libraries that shape the model. A manual run always
trains (whoever asks gets a new version), and so does a run whose code cannot be identified (not a git checkout).
"""

from __future__ import annotations

import logging

from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.results import Snapshot

log = logging.getLogger(__name__)
ALWAYS_TRAINS = "manual"
"""The trigger that trains whatever exists: a run triggered by hand (or replayed from the dead-letter queue)."""


def trained_before(ctx: RunContext, loaded: Snapshot) -> str | None:
    """Why this run need not train (the version that learned exactly its inputs), or None when it must.

    Raises:
        TransientError: MLflow is unreachable (the task is retried; an outage never skips a training run).
    """
    import mlflow
    from mlflow import MlflowClient

    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.lineage.record import current_code, current_packages, software_differences
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.registry.mlflow_lineage import LineageMissingError, read_record

    if ctx.trigger == ALWAYS_TRAINS:
        return None
    code = current_code()
    if "unknown" in (code.get("git_commit", "unknown"), code.get("git_diff_sha256")):
        log.info("the code is not a git checkout: it cannot be compared with a version's, so the run trains")
        return None
    name, config_hash = ctx.config.model_name, ctx.config.content_hash()
    packages = current_packages(get_estimator(ctx.config.model_type).distributions)
    client = MlflowClient(ctx.tracking_uri)
    mlflow.set_tracking_uri(ctx.tracking_uri)  # the record is read as an artifact of the version's run
    for version in registry.versions_tagged(client, name, {"lineage.data.hash": loaded["data_hash"]}):
        try:
            record, _ = read_record(client, version.run_id)
        except LineageMissingError:
            continue  # trained before lineage was recorded: its inputs cannot be compared
        if record.config_hash != config_hash or software_differences(record, code, packages):
            continue
        return (f"{name} v{version.version} already learned exactly these inputs (data {loaded['data_hash'][:12]}, "
                f"config {config_hash[:12]}, commit {code['git_commit'][:12]}, the same libraries; trained by "
                f"{record.dag_id} run {record.run_id}, trigger {record.trigger}): this {ctx.trigger} run trains "
                f"nothing (`ml-pipeline deployments {name}` shows what became of v{version.version}). Trigger the "
                "training DAG by hand to train again.")
    return None
