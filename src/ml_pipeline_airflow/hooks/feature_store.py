"""Hook for the feature store (Feast), configured by an Airflow Connection."""

from __future__ import annotations

import logging
import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowNotFoundException

if TYPE_CHECKING:
    from feast import FeatureStore

    from ml_pipeline.config import ModelConfig
    from ml_pipeline.feature_store.settings import FeatureStoreSettings
    from ml_pipeline.feature_store.store import OnlineFeatures

log = logging.getLogger(__name__)


class FeatureStoreHook(BaseHook):
    """Open the Feast feature store that the connection describes.

    The connection's extras hold the store's settings: ``root`` (URI of the offline feature files; the local
    registry and SQLite online store live there too by default), ``project``, ``registry`` (a path or Feast's
    SQL registry config, e.g. ``{"registry_type": "sql", "path": "postgresql+psycopg://…"}``) and
    ``online_store`` (e.g. ``{"type": "redis", "connection_string": "host:6379"}``). Without the connection
    the store lives under the lake (``$ML_LAKE_URI/feature_store``), fully local.

    Args:
        feature_store_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "feature_store_conn_id"
    default_conn_name = "feature_store_default"
    conn_type = "generic"
    hook_name = "Feast feature store"

    def __init__(self, feature_store_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feature_store_conn_id = feature_store_conn_id

    @cached_property
    def settings(self) -> FeatureStoreSettings:
        """The store's settings, from the connection's extras."""
        from ml_pipeline.data.lake import join_uri, to_uri
        from ml_pipeline.feature_store.settings import FeatureStoreSettings

        lake = os.environ.get("ML_LAKE_URI")
        default_root = join_uri(to_uri(lake), "feature_store") if lake else None
        try:
            extra = self.get_connection(self.feature_store_conn_id).extra_dejson
        except AirflowNotFoundException:
            if default_root is None:
                raise
            log.info("no connection '%s': feature store under the lake (%s)", self.feature_store_conn_id,
                     default_root)
            extra = {}
        if not extra.get("root") and default_root is None:
            raise ValueError(f"connection '{self.feature_store_conn_id}': set extras.root (the offline feature "
                             "files' URI) or ML_LAKE_URI")
        return FeatureStoreSettings.from_extra(extra, default_root or "", f"connection '{self.feature_store_conn_id}'")

    def get_conn(self) -> FeatureStore:
        """An open Feast ``FeatureStore``."""
        from ml_pipeline.feature_store.store import open_store

        return open_store(self.settings)

    def online_features(self, config: ModelConfig) -> OnlineFeatures:
        """A serving-time lookup of ``config``'s model features, keeping the store open between calls."""
        from ml_pipeline.feature_store.store import OnlineFeatures

        return OnlineFeatures(self.settings, config, self.get_conn())

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_conn().list_feature_views()
        except Exception as exc:  # report any failure to the UI's "Test" button
            return False, str(exc)
        return True, f"feature store at {self.settings.root} is reachable"
