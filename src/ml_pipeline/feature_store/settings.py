"""Where a feature store lives: offline files, registry and online store (Feast's ``RepoConfig``, built lazily).

The embedded default is fully local: feature files under ``<root>/offline``, a file
registry and a SQLite online store next to them. Production points the registry at
PostgreSQL (Feast's SQL registry) and the online store at Redis, through the same
settings (an Airflow connection's extras; docs/DESIGN.md#feature-store).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_pipeline.data.uris import join_uri, to_uri
from ml_pipeline.errors import PermanentError

PROJECT = "ml_platform"


class FeatureStoreConfigError(PermanentError, ValueError):
    """The feature store settings are unusable; the message names the field and the fix."""


@dataclass(frozen=True)
class FeatureStoreSettings:
    """Everything needed to open the store: ``root`` holds the offline feature files (and the local defaults)."""

    root: str
    project: str = PROJECT
    registry: str | dict[str, Any] | None = None  # default: <root>/registry.db
    online_store: dict[str, Any] = field(default_factory=dict)  # default: SQLite at <root>/online.db

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any] | str | None, default_root: str, source: str) -> FeatureStoreSettings:
        """Settings from a connection's extras (``root``, ``project``, ``registry``, ``online_store``)."""
        if isinstance(extra, str):
            try:
                extra = json.loads(extra or "{}")
            except json.JSONDecodeError as exc:
                raise FeatureStoreConfigError(f"{source}: extras are not JSON ({exc})") from exc
        extra = dict(extra or {})
        unknown = sorted(set(extra) - {"root", "project", "registry", "online_store"})
        if unknown:
            raise FeatureStoreConfigError(f"{source}: unknown extra field(s) {', '.join(unknown)}; "
                                          "allowed: root, project, registry, online_store")
        online = extra.get("online_store") or {}
        if not isinstance(online, dict) or (online and "type" not in online):
            raise FeatureStoreConfigError(f"{source}: online_store must be an object with a 'type' "
                                          "(sqlite, redis, postgres), e.g. {\"type\": \"redis\", "
                                          "\"connection_string\": \"127.0.0.1:6379\"}")
        return cls(root=to_uri(extra.get("root") or default_root), project=extra.get("project") or PROJECT,
                   registry=extra.get("registry"), online_store=online)

    def offline_uri(self, model: str, view: str) -> str:
        """Folder of one model's feature view: ``data/<day>.parquet`` (read by Feast) and ``_manifest/<day>.json``."""
        return join_uri(self.root, "offline", model, view)

    def feast_name(self, model: str, view: str) -> str:
        """The Feast feature view of a model's view (Feast names are global to the project)."""
        return f"{model}__{view}"

    def repo_config_fields(self) -> dict[str, Any]:
        """The fields of Feast's ``RepoConfig`` (JSON-able: a separate process can open the same store)."""
        local = self._local_root()
        registry = self.registry or str(_require_local(local, "registry") / "registry.db")
        online = self.online_store or {"type": "sqlite", "path": str(_require_local(local, "online_store")
                                                                     / "online.db")}
        return {"project": self.project, "provider": "local", "registry": registry, "online_store": online,
                "offline_store": {"type": "file"}, "repo_path": str(local or Path.cwd()),
                "entity_key_serialization_version": 3}

    def repo_config(self):
        """Feast's ``RepoConfig`` for these settings."""
        from feast.repo_config import RepoConfig

        return RepoConfig(**self.repo_config_fields())

    def _local_root(self) -> Path | None:
        if not self.root.startswith("file://"):
            return None
        path = Path(self.root.removeprefix("file://"))
        path.mkdir(parents=True, exist_ok=True)
        return path


def _require_local(local: Path | None, what: str) -> Path:
    if local is None:
        raise FeatureStoreConfigError(f"feature store root is not a local folder: set '{what}' explicitly "
                                      "(a SQL registry on PostgreSQL, a Redis online store)")
    return local
