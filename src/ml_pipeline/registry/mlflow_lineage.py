"""A training run's lineage in MLflow: its datasets, the config as it was, the record ``reproduce`` reads.

MLflow's UI shows a run's datasets (``log_input``) with their source, digest, schema and row count, and a logged
model's metrics with the dataset they were measured on; so training and holdout data are logged as datasets and
the holdout metrics name the holdout dataset and the model. MLflow's own pandas digest hashes only the first
10,000 rows: ours (``hash_frame``) covers every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from mlflow import MlflowClient

from ml_pipeline.errors import PermanentError
from ml_pipeline.lineage.record import CONFIG_ARTIFACT, DIGEST_LENGTH, RECORD_ARTIFACT, TrainingRecord

TRAINING, EVALUATION = "training", "evaluation"


class LineageMissingError(PermanentError, LookupError):
    """The run has no lineage record: trained before lineage was recorded, or its artifacts were deleted."""


@dataclass(frozen=True)
class RunDatasets:
    """The frames a run trained and was evaluated on, with where they came from."""

    train: pl.DataFrame
    holdout: pl.DataFrame
    source_uri: str
    target: str


def dataset_name(model: str, context: str) -> str:
    """The MLflow dataset name of a model's ``training`` or ``evaluation`` data."""
    return f"{model}-{'train' if context == TRAINING else 'holdout'}"


def log_run_lineage(run_id: str, record: TrainingRecord, data: RunDatasets, texts: Mapping[str, str]) -> None:
    """Log the record, the config and rules as they were, and the two datasets, in the active run ``run_id``.

    Args:
        run_id: The active run.
        record: What decided the model (``lineage/lineage.json``).
        data: The training and holdout frames.
        texts: ``CONFIG_ARTIFACT`` and ``RULES_ARTIFACT`` → their text.
    """
    import mlflow

    client = MlflowClient()
    client.log_text(run_id, json.dumps(record.to_dict(), indent=2, sort_keys=True), RECORD_ARTIFACT)
    for artifact_file, text in texts.items():
        client.log_text(run_id, text, artifact_file)
    for context, frame, digest in ((TRAINING, data.train, record.train_sha256),
                                   (EVALUATION, data.holdout, record.holdout_sha256)):
        dataset = mlflow.data.from_polars(frame, source=data.source_uri, targets=data.target,
                                          name=dataset_name(record.model, context), digest=digest[:DIGEST_LENGTH])
        mlflow.log_input(dataset, context=context,
                         tags={"sha256": digest, "rows": str(frame.height), "snapshot_sha256": record.data_hash})


def log_holdout_metrics(client: MlflowClient, run_id: str, model_uri: str, model: str, metrics: Mapping[str, float],
                        holdout_sha256: str | None) -> None:
    """Log ``holdout_<metric>`` on the run, linked to the logged model and the holdout dataset when known."""
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    link = ({"dataset_name": dataset_name(model, EVALUATION), "dataset_digest": holdout_sha256[:DIGEST_LENGTH]}
            if holdout_sha256 else {})
    for name, value in metrics.items():
        client.log_metric(run_id, f"holdout_{name}", value, model_id=model_id, **link)


def read_record(client: MlflowClient, run_id: str) -> tuple[TrainingRecord, str]:
    """The run's lineage record and its config text as it was.

    Raises:
        LineageMissingError: The run has no ``lineage/lineage.json`` (or no config): it cannot be reproduced.
        TransientError: MLflow or its artifact store did not answer (never read as "no record").
    """
    import tempfile
    from pathlib import Path

    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    from ml_pipeline.errors import TransientError
    from ml_pipeline.failures.classification import is_transient, one_line

    def unanswered(what: str, exc: Exception) -> Exception:
        if is_transient(exc):
            return TransientError(f"{what} of MLflow run {run_id} could not be read: {one_line(exc)}")
        return LineageMissingError(f"{what} of MLflow run {run_id} cannot be read ({one_line(exc)})")

    # The run's own artifact store, listed first: ``runs:/`` URIs turn any failure into "does not exist", and an
    # artifact-serving server answers a missing file with a 500 that its client retries for minutes.
    try:
        repository = get_artifact_repository(client.get_run(run_id).info.artifact_uri,
                                             tracking_uri=client.tracking_uri)
        listed = {artifact.path for artifact in repository.list_artifacts(RECORD_ARTIFACT.rsplit("/", 1)[0])}
    except Exception as exc:  # noqa: BLE001 - MLflow and its stores raise many types
        raise unanswered("the artifact list", exc) from exc
    texts = {}
    for artifact in (RECORD_ARTIFACT, CONFIG_ARTIFACT):
        if artifact not in listed:
            raise LineageMissingError(
                f"MLflow run {run_id} has no {artifact}: it was trained before lineage records were kept (or its "
                "artifacts were deleted), so it cannot be reproduced")
        try:
            with tempfile.TemporaryDirectory() as folder:
                texts[artifact] = Path(repository.download_artifacts(artifact, dst_path=folder)).read_text()
        except Exception as exc:  # noqa: BLE001 - MLflow raises several types
            raise unanswered(artifact, exc) from exc
    try:
        return TrainingRecord.from_dict(json.loads(texts[RECORD_ARTIFACT])), texts[CONFIG_ARTIFACT]
    except (ValueError, TypeError) as exc:  # not JSON, or a record missing fields this code needs
        raise LineageMissingError(f"MLflow run {run_id}'s {RECORD_ARTIFACT} cannot be read by this code ({exc}): "
                                  "check out the commit that trained it") from exc
