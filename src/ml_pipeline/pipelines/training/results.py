"""What the training steps hand each other (through XCom in Airflow): typed, JSON-able references.

``TypedDict`` rather than dataclasses: the values stay plain dicts, so XCom, the UI and hand-written DAGs read
them as before. Data never travels in them: only URIs, hashes, ids and metrics.
"""

from __future__ import annotations

from typing import Any, TypedDict

from ml_pipeline.evaluation.champion import ChampionScore


class Snapshot(TypedDict):
    """The exact rows a model is trained on, frozen in the run's folder: what training and lineage read."""

    snapshot_uri: str  # several comma-separated URIs once per-partition snapshots are combined
    data_hash: str
    rows: int
    partitions: list[str]  # the daily partitions of the window, oldest first
    positive_rate: float | None
    partition: str | None  # the ``data.partition_by`` value this snapshot holds, or None for all rows


class LoadedSnapshot(Snapshot):
    """``load_data``: a snapshot and, per daily partition, what validation needs to judge it as it landed."""

    partition_rows: list[int]
    partition_snapshots: list[str] | None  # each partition's rows as read, when their schemas disagree
    fingerprints: list[str]
    file_times: list[str | None]


class ValidationSummary(TypedDict):
    """``validate_data``: the worst status of the snapshot's partitions and where their reports are."""

    status: str
    report_uri: str
    checks: int
    warnings: int
    released: list[str]


class FeatureTable(TypedDict):
    """``engineer_features``: the run's feature table."""

    features_uri: str
    rows: int


class CombinedPartitions(TypedDict):
    """``combine_partitions``: the per-``partition_by``-value results joined for training."""

    loaded: Snapshot
    features: FeatureTable


class TrainedModel(TypedDict):
    """``train_model``: the MLflow run and logged model, and the split's sizes."""

    mlflow_run_id: str
    model_uri: str
    train_rows: int
    holdout_rows: int


class Evaluation(TypedDict):
    """``evaluate_model``: holdout metrics of the new model and the champion, and the promotion decision."""

    metrics: dict[str, float]
    champion: ChampionScore | None
    decision: dict[str, Any]


class RegisteredVersion(TypedDict):
    """``register_model``: the registered version, aliased ``challenger``."""

    model_name: str
    version: str
    aliases: list[str]
    model_uri: str


class RunSummary(RegisteredVersion):
    """``summarize_run``: what the run did, for notifications and the demo."""

    dag_id: str
    run_id: str
    rows: int
    partitions: list[str]
    snapshot_uri: str
    data_hash: str
    mlflow_run_id: str
    metrics: dict[str, float]
    decision: dict[str, Any]
