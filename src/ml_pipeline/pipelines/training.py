"""The training pipeline's steps: load, validate, engineer, train, evaluate, register.

Each step takes the ``RunContext`` and the small dicts earlier steps returned
(URIs, ids, metrics) and returns a small JSON-able dict: data stays in the lake,
so any orchestrator can run the steps on any machine, and re-running a step for
the same run gives the same result.

MLflow, XGBoost and scikit-learn are imported inside the steps that use them:
each Airflow task is a fresh process, and a data step should not pay seconds of
imports for libraries it never calls.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import logging
import os

import polars as pl

from ml_pipeline.data.lake import hash_frame, read_parquet, write_parquet
from ml_pipeline.data.loader import load_partition, partition_values, slice_filter, window_uris
from ml_pipeline.data.validator import DataValidationError, require_columns
from ml_pipeline.features.registry import add_request_features, build_features
from ml_pipeline.lineage import lineage_tags
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.training.split import split_by_time

log = logging.getLogger(__name__)


def list_partitions(ctx: RunContext) -> list[str]:
    """Values of ``data.partition_by`` found in the run's window: one mapped task each."""
    data = ctx.config.data
    values = partition_values(ctx.dataset_uri, ctx.logical_date, data.lookback_days, data.partition_by)
    if not values:
        raise DataValidationError(f"{ctx.dataset_uri}: no values of '{data.partition_by}' in the window")
    return values


def load_data(ctx: RunContext, partition: str | None = None) -> dict:
    """Freeze the window of daily partitions (or one ``partition_by`` value of it) into a snapshot.

    The snapshot keeps the partitions in order and records each one's row count and fingerprint, so
    validation judges exactly the rows that are trained on, partition by partition.
    """
    uris = window_uris(ctx.dataset_uri, ctx.logical_date, ctx.config.data.lookback_days)
    loads = [_load_partition(ctx, uri) for uri in uris]
    window = [(uri, part) for uri, (part, _, _) in zip(uris, loads, strict=True)]
    name = "snapshot.parquet"
    if partition is not None:
        column = ctx.config.data.partition_by
        window = [(uri, part.filter(slice_filter(column, partition))) for uri, part in window]
        name = f"{column}={partition}/snapshot.parquet"
    # diagonal: a partition missing a column still loads; validation reads it as it was (partition_snapshots)
    frame = pl.concat([part for _, part in window], how="diagonal_relaxed")
    snapshot_uri = write_parquet(frame, ctx.artifact_uri(name))
    target = ctx.config.data.target_column
    mean = frame[target].mean() if target in frame.columns and frame[target].dtype.is_numeric() else None
    positive_rate = float(mean) if mean is not None else None  # a broken target is validate_data's to report
    log.info("loaded %d rows from %d partitions into %s", frame.height, len(window), snapshot_uri)
    return {"snapshot_uri": snapshot_uri, "data_hash": hash_frame(frame), "rows": frame.height,
            "partitions": uris, "partition_rows": [part.height for _, part in window],
            "partition_snapshots": _exact_partitions(ctx, window, name),
            "fingerprints": [digest for _, digest, _ in loads],
            "file_times": [str(newest) if newest else None for _, _, newest in loads],
            "positive_rate": positive_rate, "partition": partition}


def _exact_partitions(ctx: RunContext, window: list[tuple[str, pl.DataFrame]], name: str) -> list[str] | None:
    """When partitions disagree on their columns or types, the snapshot's relaxed schema would hide which one is
    wrong: keep each partition's rows as they were for validation. None when every partition has the same schema."""
    if all(part.schema == window[0][1].schema for _, part in window):
        return None
    folder = name.removesuffix("snapshot.parquet") + "partitions"
    return [write_parquet(part, ctx.artifact_uri(f"{folder}/{i:03d}.parquet")) for i, (_, part) in enumerate(window)]


def _load_partition(ctx: RunContext, uri: str) -> tuple[pl.DataFrame, str, dt.datetime | None]:
    """Read one partition with its fingerprint and newest file time; an unreadable one is quarantined first.

    Files that change while being read (an upstream job still writing) are a transient failure: retried later.
    """
    from ml_pipeline.data.lake import fingerprint
    from ml_pipeline.failures.classification import TransientError
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import partition_ref, record_unreadable

    before = fingerprint(uri)
    try:
        frame = load_partition(uri)
    except DataValidationError as exc:
        record_unreadable(ctx.config, rules_for_model(ctx.config, ctx.config_path),
                          partition_ref(ctx.dataset_uri, uri), ctx.lake_uri, str(exc))
        raise
    if fingerprint(uri) != before:
        raise TransientError(f"partition {uri} changed while it was read (still being written?); retry later")
    return frame, before[0], before[1]


def combine_partitions(ctx: RunContext, loaded: list[dict], features: list[dict]) -> dict:
    """Join the per-partition results into one snapshot reference and one feature table for training."""
    order = sorted(range(len(loaded)), key=lambda i: str(loaded[i]["partition"]))
    frames = [read_parquet(features[i]["features_uri"]) for i in order]
    table = pl.concat(frames, how="vertical_relaxed")
    digest = hashlib.sha256("".join(loaded[i]["data_hash"] for i in order).encode()).hexdigest()
    combined = {"snapshot_uri": ",".join(loaded[i]["snapshot_uri"] for i in order), "data_hash": digest,
                "rows": sum(part["rows"] for part in loaded), "partitions": loaded[0]["partitions"],
                "positive_rate": None, "partition": None}
    uri = write_parquet(table, ctx.artifact_uri("features.parquet"))
    return {"loaded": combined, "features": {"features_uri": uri, "rows": table.height}}


def validate_data(ctx: RunContext, loaded: dict) -> dict:
    """Check every partition of the snapshot against the model's rules; stop on an ``error``.

    Each partition's report is written next to its data and, combined, into the run's folder (train_model
    logs it to MLflow). A failing partition is quarantined, and the error lists every failed check.
    """
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import PartitionRef, check_partition, write_report
    from ml_pipeline.validation.report import failure_message

    rules = rules_for_model(ctx.config, ctx.config_path)
    exact = loaded.get("partition_snapshots")
    frame = None if exact else read_parquet(loaded["snapshot_uri"])
    column = ctx.config.data.partition_by if loaded.get("partition") is not None else None
    reports, offset = [], 0
    for i, (uri, rows, digest, newest) in enumerate(zip(
            loaded["partitions"], loaded["partition_rows"], loaded["fingerprints"], loaded["file_times"], strict=True)):
        ref = PartitionRef(ctx.dataset_uri, uri, digest, dt.datetime.fromisoformat(newest) if newest else None,
                           column=column, value=loaded.get("partition"))
        rows_of_partition = read_parquet(exact[i]) if exact else frame.slice(offset, rows)
        reports.append(check_partition(rows_of_partition, ctx.config, rules, ref, ctx.lake_uri))
        offset += rows
    folder = ctx.artifact_uri(f"validation/{reports[0].scope or 'all'}")
    for report in reports:
        write_report(report, f"{folder}/{report.data_uri.rstrip('/').rsplit('/', 1)[-1]}")
        log.info("%s", report.summary())
    if any(report.blocking for report in reports):
        raise DataValidationError(failure_message(reports))
    return {"status": max((r.status for r in reports), key=STATUS_ORDER.index), "report_uri": folder,
            "checks": sum(len(r.results) for r in reports), "warnings": sum(len(r.warnings) for r in reports),
            "released": [r.data_uri for r in reports if r.status == "released"]}


STATUS_ORDER = ["passed", "warning", "released", "failed"]


def engineer_features(ctx: RunContext, loaded: dict) -> dict:
    """The snapshot with the model's features (derived ones read point in time from the feature store), written
    as this run's feature table."""
    data = ctx.config.data
    snapshot = read_parquet(loaded["snapshot_uri"])
    if ctx.config.uses_feature_store and ctx.feature_store is not None:
        from ml_pipeline.pipelines.features import historical_features

        features = add_request_features(historical_features(ctx, snapshot), data.features)
    else:  # no store (an in-process run): the same views, computed over the snapshot itself
        features = build_features(snapshot, data.features, data.feature_functions)
    require_columns(features, ctx.config.data.features, where=f"{ctx.config_path} data.features")
    folder = f"{data.partition_by}={loaded['partition']}/" if loaded.get("partition") is not None else ""
    uri = write_parquet(features, ctx.artifact_uri(f"{folder}features.parquet"))
    return {"features_uri": uri, "rows": features.height}


def train_model(ctx: RunContext, loaded: dict, features: dict) -> dict:
    """Train on the older part of the features and log the model with lineage to MLflow."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.resources import choose_device
    from ml_pipeline.training.trainer import to_model_input, train_classifier

    client = MlflowClient(ctx.tracking_uri)
    experiment = registry.experiment_id(client, ctx.config.model_name)
    run_key = ctx.run_key(loaded["data_hash"])
    train, holdout = _split(ctx, features)
    sizes = {"train_rows": train.height, "holdout_rows": holdout.height}
    existing = registry.find_finished_run(client, experiment, run_key)
    if existing:
        log.info("run key %s already trained as MLflow run %s: reusing it", run_key, existing[0])
        return {"mlflow_run_id": existing[0], "model_uri": existing[1], **sizes}
    cfg = ctx.config
    device = choose_device(cfg.training.device)
    log.info("training %s on %s (%s)", cfg.model_name, device.device, device.reason)
    model = train_classifier(train, cfg.data.features, cfg.data.target_column,
                             cfg.training.hyperparameters, cfg.training.seed, _threads(), device.device)
    run_id, model_uri = registry.log_training_run(
        ctx.tracking_uri, cfg.model_name, run_key, {**_lineage(ctx, loaded), "training.device_reason": device.reason},
        params={**cfg.training.hyperparameters, "features": ",".join(cfg.data.features),
                "validation_split": cfg.training.validation_split, "seed": cfg.training.seed,
                "device": device.device, **sizes},
        model=model, input_example=to_model_input(train.head(5), cfg.data.features),
        pip_requirements=_pip_requirements())
    registry.log_texts(client, run_id, _validation_reports(ctx))
    return {"mlflow_run_id": run_id, "model_uri": model_uri, **sizes}


def evaluate_model(ctx: RunContext, features: dict, trained: dict) -> dict:
    """Score the holdout with the new model and the current champion; decide promotion."""
    from mlflow import MlflowClient

    from ml_pipeline.evaluation.metrics import classification_metrics, promotion_decision
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.trainer import to_model_input

    cfg = ctx.config
    _, holdout = _split(ctx, features)
    x, y = to_model_input(holdout, cfg.data.features), holdout[cfg.data.target_column].to_numpy()
    model = registry.load_model(ctx.tracking_uri, trained["model_uri"])
    metrics = classification_metrics(y, model.predict_proba(x)[:, 1]).as_dict()
    client = MlflowClient(ctx.tracking_uri)
    for name, value in metrics.items():
        client.log_metric(trained["mlflow_run_id"], f"holdout_{name}", value)
    champion = _champion_auc(ctx, x, y)
    if champion and champion["run_id"] == trained["mlflow_run_id"]:
        champion = None  # a rerun of the run that made the champion: judge it on the gates alone
    decision = promotion_decision(metrics["auc"], champion and champion["auc"], cfg.deployment.min_auc_threshold)
    return {"metrics": metrics, "champion": champion, "decision": decision}


def register_model(ctx: RunContext, loaded: dict, trained: dict, evaluation: dict) -> dict:
    """Register the model once, tag it with lineage, alias it challenger. Only the deployment pipeline moves
    ``champion`` (gates on fresh data, canary, history): re-running an old training run never changes production."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry

    client = MlflowClient(ctx.tracking_uri)
    name = ctx.config.model_name
    tags = {**_lineage(ctx, loaded), "holdout_auc": f"{evaluation['metrics']['auc']:.6f}",
            "promotion.reason": evaluation["decision"]["reason"]}
    version = registry.register_once(client, name, trained["mlflow_run_id"], trained["model_uri"], tags)
    client.set_registered_model_alias(name, registry.CHALLENGER, version.version)
    return {"model_name": name, "version": version.version, "aliases": [registry.CHALLENGER],
            "model_uri": f"models:/{name}/{version.version}"}


def summarize_run(ctx: RunContext, loaded: dict, trained: dict, evaluation: dict, registered: dict) -> dict:
    """One dict that says what this run did, for notifications and the demo."""
    return {"model_name": ctx.config.model_name, "dag_id": ctx.dag_id, "run_id": ctx.run_id,
            "rows": loaded["rows"], "partitions": loaded["partitions"], "snapshot_uri": loaded["snapshot_uri"],
            "data_hash": loaded["data_hash"], "mlflow_run_id": trained["mlflow_run_id"],
            "metrics": evaluation["metrics"], "decision": evaluation["decision"], **registered}


def _champion_auc(ctx: RunContext, x, y) -> dict | None:
    """The champion's AUC on this run's holdout, so both are judged on the same data."""
    from mlflow import MlflowClient

    from ml_pipeline.evaluation.metrics import classification_metrics
    from ml_pipeline.registry import mlflow_registry as registry

    client = MlflowClient(ctx.tracking_uri)
    champion = registry.alias_version(client, ctx.config.model_name, registry.CHAMPION)
    if champion is None:
        return None
    model = registry.load_model(ctx.tracking_uri, f"models:/{ctx.config.model_name}@{registry.CHAMPION}")
    try:
        scores = model.predict_proba(x)[:, 1]
    except (KeyError, ValueError) as exc:  # the champion was trained on other features
        log.warning("champion v%s cannot score this holdout (%s): using its recorded AUC", champion.version, exc)
        return {"version": champion.version, "run_id": champion.run_id,
                "auc": float(champion.tags.get("holdout_auc", 0.0))}
    return {"version": champion.version, "run_id": champion.run_id, "auc": classification_metrics(y, scores).auc}


def _validation_reports(ctx: RunContext) -> dict[str, str]:
    """The run's validation reports (JSON and Markdown, per partition) as MLflow artifact path → text."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(ctx.artifact_uri("validation"))
    if not fs.exists(root):
        return {}
    return {f"validation/{path[len(root):].lstrip('/')}": fs.cat_file(path).decode()
            for path in sorted(fs.find(root)) if path.endswith((".json", ".md"))}


def _split(ctx: RunContext, features: dict):
    return split_by_time(read_parquet(features["features_uri"]), ctx.config.training.validation_split,
                         ctx.config.data.timestamp_column)


def _lineage(ctx: RunContext, loaded: dict) -> dict[str, str]:
    return lineage_tags(partitions=loaded["partitions"], data_hash=loaded["data_hash"],
                        snapshot_uri=loaded["snapshot_uri"], config_hash=ctx.config.content_hash(),
                        config_path=str(ctx.config_path), dag_id=ctx.dag_id, run_id=ctx.run_id)


def _pip_requirements() -> list[str]:
    names = ("mlflow", "scikit-learn", "pandas", "numpy", _xgboost_distribution())
    return [f"{n}=={importlib.metadata.version(n)}" for n in names]


def _xgboost_distribution() -> str:
    """``xgboost-cpu`` by default, ``xgboost`` (CUDA build) with the GPU extra."""
    for name in ("xgboost-cpu", "xgboost"):
        try:
            importlib.metadata.version(name)
            return name
        except importlib.metadata.PackageNotFoundError:
            continue
    raise RuntimeError("XGBoost is not installed: run `make install` (or `make install GPU=1` for the GPU build)")


def _threads() -> int:
    return int(os.environ.get("ML_TRAIN_THREADS", "2"))


def run_in_process(ctx: RunContext) -> dict:
    """Run every step in this process, in DAG order (no orchestrator); return the summary."""
    loaded = load_data(ctx)
    validate_data(ctx, loaded)
    features = engineer_features(ctx, loaded)
    trained = train_model(ctx, loaded, features)
    evaluation = evaluate_model(ctx, features, trained)
    registered = register_model(ctx, loaded, trained, evaluation)
    return summarize_run(ctx, loaded, trained, evaluation, registered)
