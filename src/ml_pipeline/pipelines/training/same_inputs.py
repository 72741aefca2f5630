"""A run started by an event does not train again what a version already learned from the same inputs.

Two events often name the same data: a retraining request (drift, decay) waits for the features computed from the
day it names, and the feature update that computes them starts a training run of its own; a feature update trains
a new day at ``:05`` and the hourly check at ``:15`` finds that day drifted and requests a retraining on it. A
model's training runs never overlap (``max_active_runs`` 1), so the later run finds the version the earlier one
registered and stops before training: retraining the same inputs would give the same model, and a second
challenger to deploy.

The inputs are what each version's lineage record keeps: the snapshot's and the feature table's hashes (a day's
features also read the day before it), the config's hash, the code (commit, and the uncommitted difference's hash),
the library versions, the thread count and the device. Only runs started by an event are skipped: a manual run (or
a backfill, or the UI's Materialize) always trains, and so does a run whose code cannot be identified (not a git
checkout).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.results import FeatureTable, Snapshot

log = logging.getLogger(__name__)
EVENT_TRIGGERS = frozenset({"features", "drift", "decay", "schedule"})
"""What starts a run without anyone asking for it (``RunContext.trigger``, causes joined by ``+``)."""
REPRODUCTION_TAG = "reproduction.of_version"
"""A version ``ml-pipeline reproduce --register`` made: a copy for the record, never the one deployed."""
REQUESTED = frozenset({"drift", "decay"})
"""Triggers whose alert told people "retraining requested": a run of theirs that trains nothing says so too."""


@dataclass(frozen=True)
class LearnedBefore:
    """The version that already learned a run's inputs: the run trains nothing, and ``reason`` says why."""

    model: str
    version: str
    trigger: str
    reason: str

    @property
    def answers_a_request(self) -> bool:
        """Whether the run was a retraining request (drift, decay), whose requester expects an answer."""
        return bool(set(self.trigger.split("+")) & REQUESTED)


def trained_before(ctx: RunContext, loaded: Snapshot, features: FeatureTable) -> LearnedBefore | None:
    """The version that learned exactly this run's inputs (the run need not train), or None when it must.

    Raises:
        TransientError: MLflow is unreachable (the task is retried; an outage never skips a training run).
    """
    from mlflow import MlflowClient

    from ml_pipeline.lineage.record import current_code
    from ml_pipeline.registry import mlflow_registry as registry

    if not set(ctx.trigger.split("+")) <= EVENT_TRIGGERS:
        return None
    code = current_code()
    if "unknown" in (code.get("git_commit", "unknown"), code.get("git_diff_sha256")):
        log.info("the code is not a git checkout: it cannot be compared with a version's, so the run trains")
        return None
    client = MlflowClient(ctx.tracking_uri)
    candidates = [v for v in registry.versions_tagged(client, ctx.config.model_name,
                                                      {"lineage.data.hash": loaded["data_hash"]})
                  if REPRODUCTION_TAG not in (v.tags or {})]
    if not candidates:
        return None
    now = _inputs(ctx, loaded, features, code)
    for version in candidates:
        record = _record(client, version.run_id)
        if record is None or (record.dag_id, record.run_id) == (ctx.dag_id, ctx.run_id):
            continue  # no record to compare, or this run's own version (a task cleared after it registered)
        if _same(record, now):
            return LearnedBefore(ctx.config.model_name, str(version.version), ctx.trigger, reason=(
                f"{ctx.config.model_name} v{version.version} already learned exactly these inputs (data "
                f"{loaded['data_hash'][:12]}, features {now['features_sha256'][:12]}, config "
                f"{now['config_hash'][:12]}, commit {code['git_commit'][:12]}, the same libraries, threads and "
                f"device; trained by {record.dag_id} run {record.run_id}, trigger {record.trigger}): this "
                f"{ctx.trigger} run trains nothing (`ml-pipeline deployments {ctx.config.model_name}` shows what "
                f"became of v{version.version}). Trigger the training DAG by hand to train again."))
    return None


def _inputs(ctx: RunContext, loaded: Snapshot, features: FeatureTable, code: dict[str, str]) -> dict:
    """This run's inputs as a record keeps them."""
    from ml_pipeline.data.lake import hash_frame, read_parquet
    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.lineage.record import current_packages
    from ml_pipeline.pipelines.training.model import train_threads

    estimator = get_estimator(ctx.config.model_type)
    return {"data_hash": loaded["data_hash"], "features_sha256": hash_frame(read_parquet(features["features_uri"])),
            "config_hash": ctx.config.content_hash(), "threads": train_threads(),
            "device": estimator.choose_device(ctx.config.training.device).device, "code": code,
            "packages": current_packages(estimator.distributions)}


def _record(client, run_id: str):
    """The version's training record, or None when it has none this code can read.

    Raises:
        TransientError: The record could not be fetched because MLflow (or its artifact store) is unreachable.
    """
    from ml_pipeline.registry.mlflow_lineage import LineageMissingError, read_record

    try:
        return read_record(client, run_id)[0]
    except LineageMissingError:
        return None  # trained before lineage was recorded: its inputs cannot be compared


def _same(record, now: dict) -> bool:
    """Whether ``record`` was trained on exactly ``now``'s inputs (a record with fields of other types: no)."""
    from ml_pipeline.lineage.record import software_differences

    try:
        return (all(getattr(record, key) == now[key] for key in ("data_hash", "features_sha256", "config_hash",
                                                                 "threads", "device"))
                and not software_differences(record, now["code"], now["packages"]))
    except (AttributeError, TypeError):
        return False
