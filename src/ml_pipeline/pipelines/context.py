"""What a pipeline step needs to know about the run it belongs to."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ml_pipeline.config import ModelConfig
from ml_pipeline.data.lake import join_uri
from ml_pipeline.data.uris import source_uri
from ml_pipeline.feature_store.settings import FeatureStoreSettings


@dataclass(frozen=True)
class RunContext:
    """One pipeline run: its config, its date, where it writes, where it tracks."""

    config: ModelConfig
    config_path: Path
    logical_date: dt.date
    lake_uri: str
    tracking_uri: str
    dag_id: str
    run_id: str
    uri_map: Mapping[str, str] = field(default_factory=dict)
    feature_store: FeatureStoreSettings | None = None
    trigger: str = "manual"
    """What started the run: ``schedule``, ``manual``, ``features`` (new features), ``drift`` or ``decay``
    (a monitoring check's retraining request): kept in the model's lineage."""

    @property
    def dataset_uri(self) -> str:
        """URI of the model's source dataset: ``data.source`` through the environment's URI map, or under the lake."""
        return source_uri(self.config.data.source, self.lake_uri, dict(self.uri_map))

    @property
    def run_prefix(self) -> str:
        """Per-run folder for intermediate data: ``<lake>/runs/<dag_id>/<run_id>``."""
        return join_uri(self.lake_uri, "runs", self.dag_id, _safe(self.run_id))

    def artifact_uri(self, name: str) -> str:
        """URI of one intermediate artifact of this run."""
        return join_uri(self.run_prefix, name)

    def run_key(self, data_hash: str) -> str:
        """Idempotency key of a training run: same run, data and config give the same key."""
        text = "|".join([self.dag_id, self.run_id, data_hash, self.config.content_hash()])
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def _safe(run_id: str) -> str:
    """Run ids contain ':' and '+'; keep them readable but path-safe."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)
