"""Rebuild a registered model version from its lineage, and prove the rebuild identical.

The rebuild reads only what the version's training run stored (``lineage/lineage.json`` and the config as it was,
``lineage/config.yaml``), never today's config file or today's lake: the exact snapshot, verified by its sha256;
the features recomputed from it (or, for a model whose derived features were read point in time from the feature
store, the run's frozen feature table, verified by its sha256: the store has moved on since); the recorded
hyperparameters, seed, thread count and device. The software that trained it is compared with the installed one,
and any difference refuses the rebuild unless allowed. The proof: the rebuilt and the registered model score the
recorded holdout, and every prediction must agree within ``tolerance`` (0 for our tree models), and the metrics too.
It runs in this process: a one-off check needs no schedule, and it then uses the very training code being checked.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from ml_pipeline.errors import PermanentError
from ml_pipeline.lineage.record import TrainingRecord

log = logging.getLogger(__name__)


class ReproductionRefusedError(PermanentError, RuntimeError):
    """The version cannot be rebuilt faithfully (its inputs are gone or changed, or the software differs)."""


@dataclass
class Reproduction:
    """What a rebuild found."""

    model: str
    version: str
    run_id: str
    snapshot_uri: str
    data_hash: str
    features_source: str
    software_differences: list[str]
    max_abs_difference: float
    tolerance: float
    original_metrics: dict[str, float]
    rebuilt_metrics: dict[str, float]
    identical: bool
    seconds: float
    registered_version: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``--json``)."""
        return asdict(self)


def reproduce(tracking_uri: str, model: str, version: str, *, allow_code_drift: bool = False,
              register: bool = False, tolerance: float = 0.0) -> Reproduction:
    """Rebuild version ``version`` of ``model`` from its lineage and compare it with the registered one.

    Args:
        tracking_uri: The MLflow server (or store) the version is registered in.
        model: The registered model's name.
        version: Its version number.
        allow_code_drift: Rebuild even when the code or libraries differ from those that trained it.
        register: Register the rebuild (only an identical one) as a new version tagged ``reproduction.of``.
        tolerance: The largest absolute difference of a holdout prediction that still counts as identical.

    Raises:
        ReproductionRefusedError: The version, its record, its snapshot or its features are missing or changed,
            or the software differs (without ``allow_code_drift``).
    """
    import mlflow
    from mlflow import MlflowClient

    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.lineage.record import current_code, current_packages, software_differences
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.registry.mlflow_lineage import LineageMissingError, read_record

    started = time.perf_counter()
    client = MlflowClient(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    found = registry.model_version(client, model, version)
    if found is None:
        raise ReproductionRefusedError(f"{model} has no version {version} in {tracking_uri}")
    try:
        record, config_text = read_record(client, found.run_id)
    except LineageMissingError as exc:
        raise ReproductionRefusedError(f"{model} v{version}: {exc}") from exc
    config = _recorded_config(config_text, model, version)
    differences = software_differences(record, current_code(),
                                       current_packages(get_estimator(record.model_type).distributions))
    if config.content_hash() != record.config_hash:  # a setting's default or meaning changed with the code
        differences.append(f"config: the one stored with the run reads differently with this code (effective hash "
                           f"{record.config_hash} trained, {config.content_hash()} here)")
    if differences and not allow_code_drift:
        raise ReproductionRefusedError(
            f"{model} v{version} was trained by other software than is installed here; rebuilding it would not "
            "prove anything about the original (pass --allow-code-drift to rebuild anyway):\n  "
            + "\n  ".join(differences))
    if record.device != "cpu":
        raise ReproductionRefusedError(f"{model} v{version} was trained on {record.device}: only CPU training is "
                                       "rebuilt bit for bit (GPU arithmetic is not repeatable run to run), so a "
                                       "rebuild would prove nothing; its lineage (snapshot, commit, config) still "
                                       f"says what produced it: `ml-pipeline lineage {model} {version}`")
    snapshot = _verified_snapshot(record, model, version)
    features, source = _features(record, config, snapshot, model, version)
    train, holdout = _verified_split(record, config, features, model, version)
    rebuilt = _retrain(record, config, train)
    original = registry.load_model(tracking_uri, found.source if found.source.startswith("models:/")
                                   else f"models:/{model}/{version}")
    result = _compare(original, rebuilt, config, holdout, tolerance)
    reproduction = Reproduction(
        model=model, version=str(version), run_id=found.run_id, snapshot_uri=record.snapshot_uri,
        data_hash=record.data_hash, features_source=source, software_differences=differences,
        seconds=0.0, tolerance=tolerance, **result)
    recorded = client.get_run(found.run_id).data.metrics.get("holdout_auc")
    if recorded is not None and abs(recorded - reproduction.original_metrics["auc"]) > tolerance:
        reproduction.identical = False  # the holdout scored here is not the one the run evaluated
        reproduction.notes.append(f"the registered model's holdout AUC here is {reproduction.original_metrics['auc']}"
                                  f", the run recorded {recorded}")
    if register and reproduction.identical:
        try:  # the comparison stands whatever happens to the registration: said, not lost
            reproduction.registered_version = _register(tracking_uri, record, config, config_text, rebuilt,
                                                        reproduction, train, holdout)
        except Exception as exc:
            reproduction.notes.append(f"not registered: {type(exc).__name__}: {str(exc)[:300]}: run again with "
                                      "--register")
    elif register:
        reproduction.notes.append("not registered: the rebuild is not identical")
    reproduction.seconds = round(time.perf_counter() - started, 2)
    return reproduction


def _recorded_config(text: str, model: str, version: str):
    """The config as stored with the run (whether it reads as it did is the caller's check of the hash)."""
    import yaml
    from pydantic import ValidationError

    from ml_pipeline.config import ModelConfig

    try:
        # lax: a version trained before the config's types were strict (`retries: "3"`) still reproduces
        config = ModelConfig.model_validate(yaml.safe_load(text), strict=False)
    except (yaml.YAMLError, ValidationError) as exc:
        raise ReproductionRefusedError(f"{model} v{version}: the config stored with its run no longer loads with "
                                       f"this code ({exc}); check out the commit it was trained with") from exc
    return config


def _verified_snapshot(record: TrainingRecord, model: str, version: str) -> list[pl.DataFrame]:
    """The snapshot's frames (one per slice), refusing when one is gone or its rows are not those recorded."""
    import hashlib

    from ml_pipeline.data.lake import hash_frame, read_parquet

    uris = record.snapshot_uri.split(",")
    frames = [_read_input(read_parquet, uri, "snapshot", model, version) for uri in uris]
    hashes = [hash_frame(frame) for frame in frames]
    digest = hashlib.sha256("".join(hashes).encode()).hexdigest()  # combine_partitions' hash, even of one slice
    if len(hashes) == 1 and record.data_hash == hashes[0]:
        digest = hashes[0]  # a snapshot of the whole window, not of partition_by slices
    if digest != record.data_hash:
        raise ReproductionRefusedError(
            f"{model} v{version}: the snapshot {record.snapshot_uri} no longer holds the rows it was trained on "
            f"(sha256 {digest[:12]}… != recorded {record.data_hash[:12]}…): it was changed after the run")
    return frames


def _read_input(read, uri: str, what: str, model: str, version: str) -> pl.DataFrame:
    """Read one of the run's frozen inputs; refuse, naming it, when it is gone (deleted by retention, or lost)."""
    from ml_pipeline.data.lake import exists
    from ml_pipeline.data.validator import DataValidationError

    if exists(uri):
        try:
            return read(uri)
        except DataValidationError as exc:  # damaged since: the rows trained on cannot be read back
            raise ReproductionRefusedError(f"{model} v{version} cannot be rebuilt: its {what} {uri} cannot be read "
                                           f"({str(exc)[:200]}): restore it from a backup of the lake") from exc
    deleted = _tombstone(uri)
    why = (f"deleted by snapshot retention on {deleted.get('deleted_at', '?')} ({deleted.get('reason', '')})"
           if deleted else "it no longer exists")
    raise ReproductionRefusedError(f"{model} v{version} cannot be rebuilt: its {what} {uri} is gone: {why}")


def _tombstone(uri: str) -> dict | None:
    """What retention left where it deleted the run's snapshot (``lineage.retention``), or None."""
    try:
        from ml_pipeline.lineage.retention import snapshot_tombstone
    except ImportError:  # pragma: no cover - retention is part of the package
        return None
    try:
        return snapshot_tombstone(uri)
    except Exception:  # noqa: BLE001 - an unreadable tombstone: say "gone", the file is what matters
        return None


def _features(record: TrainingRecord, config, snapshot: list[pl.DataFrame], model: str,
              version: str) -> tuple[pl.DataFrame, str]:
    """The feature table: recomputed from the snapshot, or the run's frozen one for store features; verified."""
    from ml_pipeline.data.lake import hash_frame, read_parquet
    from ml_pipeline.pipelines.training.feature_table import in_memory_features

    if record.features_from_store:
        features = _read_input(read_parquet, record.features_uri, "feature table", model, version)
        source = f"the run's feature table {record.features_uri} (derived features read from the feature store)"
    else:
        features = pl.concat([in_memory_features(config, frame) for frame in snapshot], how="vertical_relaxed")
        source = "recomputed from the snapshot"
    digest = hash_frame(features)
    if digest != record.features_sha256:
        what = ("the feature table was changed after the run" if record.features_from_store else
                "the features computed from the snapshot differ from the run's: the feature code changed")
        raise ReproductionRefusedError(f"{model} v{version}: {what} (sha256 {digest[:12]}… != recorded "
                                       f"{record.features_sha256[:12]}…)")
    return features, source


def _verified_split(record: TrainingRecord, config, features: pl.DataFrame, model: str,
                    version: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    from ml_pipeline.data.lake import hash_frame
    from ml_pipeline.training.split import split_by_time

    train, holdout = split_by_time(features, config.training.validation_split, config.data.timestamp_column)
    if (hash_frame(train), hash_frame(holdout)) != (record.train_sha256, record.holdout_sha256):
        raise ReproductionRefusedError(f"{model} v{version}: the train/holdout split differs from the run's (the "
                                       "split code changed)")
    return train, holdout


def _retrain(record: TrainingRecord, config, train: pl.DataFrame):
    from ml_pipeline.training.trainer import train_classifier

    log.info("retraining %s (%s) on %d rows with seed %d and %d threads", record.model, record.model_type,
             train.height, record.seed, record.threads)
    return train_classifier(train, config.data.features, config.data.target_column, record.hyperparameters,
                            record.seed, record.threads, record.device, record.model_type)


def _compare(original, rebuilt, config, holdout: pl.DataFrame, tolerance: float) -> dict[str, Any]:
    """Score the holdout with both models: the largest prediction difference and both models' metrics."""
    import numpy as np

    from ml_pipeline.evaluation.metrics import classification_metrics
    from ml_pipeline.training.trainer import to_model_input

    x, y = to_model_input(holdout, config.data.features), holdout[config.data.target_column].to_numpy()
    before, after = original.predict_proba(x)[:, 1], rebuilt.predict_proba(x)[:, 1]
    difference = float(np.max(np.abs(before - after))) if len(before) else 0.0
    metrics = [classification_metrics(y, scores).as_dict() for scores in (before, after)]
    same_metrics = all(abs(metrics[0][k] - metrics[1][k]) <= tolerance for k in metrics[0])
    return {"max_abs_difference": difference, "original_metrics": metrics[0], "rebuilt_metrics": metrics[1],
            "identical": difference <= tolerance and same_metrics}


def _register(tracking_uri: str, record: TrainingRecord, config, config_text: str, rebuilt, reproduction: Reproduction,
              train: pl.DataFrame, holdout: pl.DataFrame) -> str:
    """Log the rebuild as a run and register it as a version tagged ``reproduction.of`` (never aliased)."""
    from mlflow import MlflowClient

    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.lineage.record import CONFIG_ARTIFACT, VERSION_TAGS
    from ml_pipeline.pipelines.training.model import pip_requirements
    from ml_pipeline.registry import mlflow_lineage
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.trainer import to_model_input

    client = MlflowClient(tracking_uri)
    original = client.get_model_version(record.model, reproduction.version)
    marks = {"reproduction.of_version": reproduction.version, "reproduction.of_run": reproduction.run_id,
             "reproduction.max_abs_difference": f"{reproduction.max_abs_difference:g}"}
    tags = {**{k: v for k, v in client.get_run(reproduction.run_id).data.tags.items() if k.startswith("lineage.")},
            **marks}
    data = mlflow_lineage.RunDatasets(train, holdout, record.features_uri, config.data.target_column)
    run_id, model_uri = registry.log_training_run(
        tracking_uri, record.model, f"reproduction-of-{reproduction.run_id}", tags,
        params={**record.hyperparameters, "seed": record.seed, "threads": record.threads},
        model=rebuilt, input_example=to_model_input(train.head(5), config.data.features),
        pip_requirements=pip_requirements(get_estimator(record.model_type)), model_type=record.model_type,
        inside_run=lambda run: mlflow_lineage.log_run_lineage(run, record, data, {CONFIG_ARTIFACT: config_text}))
    version_tags = {**{k: original.tags[k] for k in VERSION_TAGS if k in original.tags}, **marks}
    return registry.register_once(client, record.model, run_id, model_uri, version_tags).version
