"""Stable OpenLineage names for what the pipelines read and write, so that events from different runs meet.

OpenLineage identifies a dataset by ``(namespace, name)`` (https://openlineage.io/docs/spec/naming). Files follow
its naming spec: a local file is ``("file", "/abs/path")``, an object ``("s3://bucket", "key")``. What has no
standard name gets a namespace of our own:

==================  ==========================================  =======================================
kind                namespace                                   name
==================  ==========================================  =======================================
partition           ``file`` / ``s3://bucket``                  the partition folder's path
snapshot, features  ``file`` / ``s3://bucket``                  the file's path (run folder)
validation_report   ``file`` / ``s3://bucket``                  the report's path
quarantine          ``file`` / ``s3://bucket``                  the quarantine decision's path
feature_view        ``feast://<project>``                       ``<feast view name>``
offline_features    ``file`` / ``s3://bucket``                  the view's offline parquet folder
mlflow_run          ``mlflow://<tracking host>``                ``runs/<run id>``
model_version       ``mlflow://<tracking host>``                ``models/<name>/<version>``
endpoint            ``serving://ml-platform``                   ``endpoints/<endpoint name>``
prediction_log      ``serving://ml-platform``                   ``predictions/<model>``
monitoring_report   ``file`` / ``s3://bucket``                  the report's path
==================  ==========================================  =======================================

Every dataset of ours also carries its ``kind`` (the first column) in the ``mlPlatform`` dataset facet, which is
what the graph queries read (``graph.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

PARTITION, SNAPSHOT, FEATURES = "partition", "snapshot", "features"
VALIDATION_REPORT, QUARANTINE = "validation_report", "quarantine"
FEATURE_VIEW, OFFLINE_FEATURES = "feature_view", "offline_features"
MLFLOW_RUN, MODEL_VERSION = "mlflow_run", "model_version"
ENDPOINT, PREDICTION_LOG, MONITORING_REPORT = "endpoint", "prediction_log", "monitoring_report"
KINDS = (PARTITION, SNAPSHOT, FEATURES, VALIDATION_REPORT, QUARANTINE, FEATURE_VIEW, OFFLINE_FEATURES, MLFLOW_RUN,
         MODEL_VERSION, ENDPOINT, PREDICTION_LOG, MONITORING_REPORT)
SERVING_NAMESPACE = "serving://ml-platform"
FACET = "mlPlatform"
"""The name of our facet, on datasets (``kind`` and what else describes it) and on runs (commit, config hash…)."""


@dataclass(frozen=True)
class DatasetRef:
    """One dataset a step read or wrote: its OpenLineage identity and what we know of it.

    Attributes:
        namespace: OpenLineage namespace (``file``, ``s3://bucket``, ``mlflow://host:5000`` …).
        name: OpenLineage name within the namespace.
        kind: One of ``KINDS``.
        version: The content digest (sha256) when known: the snapshot's, a partition's fingerprint.
        rows: Row count when known.
        schema: ``(column, type)`` pairs when known.
        properties: Anything else worth keeping (a deployment's ``version`` and ``from``, a URI), JSON-able.
    """

    namespace: str
    name: str
    kind: str
    version: str | None = None
    rows: int | None = None
    schema: tuple[tuple[str, str], ...] = ()
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> str:
        """``namespace/name`` without doubled slashes: the dataset's identity as one string."""
        return dataset_key(self.namespace, self.name)


def dataset_key(namespace: str, name: str) -> str:
    """One string for a dataset's identity: ``file:/abs/path``, ``s3://bucket/key``, ``mlflow://h:5000/models/m/1``."""
    return f"{namespace}:{name}" if namespace == "file" else f"{namespace.rstrip('/')}/{name.lstrip('/')}"


def uri_dataset(uri: str, kind: str, **known: Any) -> DatasetRef:
    """The dataset of a lake URI (``file:///…``, ``s3://…``, a bare path), named as OpenLineage names files."""
    parts = urlsplit(uri)
    scheme = parts.scheme or "file"
    if scheme == "file":
        path = parts.path if parts.scheme else os.path.abspath(uri)  # a bare path: relative to the caller's folder
        return DatasetRef("file", "/" + path.strip("/"), kind, **known)
    return DatasetRef(f"{scheme}://{parts.netloc}", parts.path.strip("/"), kind, **known)


def mlflow_namespace(tracking_uri: str) -> str:
    """``mlflow://<host:port>`` of a tracking server (``mlflow://local<path>`` for a file or SQLite store)."""
    parts = urlsplit(tracking_uri)
    if parts.scheme in ("http", "https"):
        return f"mlflow://{parts.netloc}"
    return f"mlflow://local{parts.path or tracking_uri}"


def mlflow_run_dataset(tracking_uri: str, run_id: str, **known: Any) -> DatasetRef:
    """The MLflow run that trained a model."""
    return DatasetRef(mlflow_namespace(tracking_uri), f"runs/{run_id}", MLFLOW_RUN, **known)


def model_version_dataset(tracking_uri: str, model: str, version: str | int, **known: Any) -> DatasetRef:
    """A registered model version."""
    return DatasetRef(mlflow_namespace(tracking_uri), f"models/{model}/{version}", MODEL_VERSION, **known)


def endpoint_dataset(endpoint: str, **known: Any) -> DatasetRef:
    """A serving endpoint (``deployment.endpoint_name``); ``properties`` say which version it serves from when."""
    return DatasetRef(SERVING_NAMESPACE, f"endpoints/{endpoint}", ENDPOINT, **known)


def prediction_log_dataset(model: str, **known: Any) -> DatasetRef:
    """A model's logged predictions (what monitoring checks read)."""
    return DatasetRef(SERVING_NAMESPACE, f"predictions/{model}", PREDICTION_LOG, **known)


def feature_view_dataset(project: str, view: str, **known: Any) -> DatasetRef:
    """A Feast feature view (``view`` is the Feast name, global to the project)."""
    return DatasetRef(f"feast://{project}", view, FEATURE_VIEW, **known)
