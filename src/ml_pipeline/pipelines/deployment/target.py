"""Where a model is served in production and where its deployments are recorded."""

from __future__ import annotations

from dataclasses import dataclass

from ml_pipeline.deployment.history import DeploymentHistory


@dataclass(frozen=True)
class DeploymentTarget:
    """Where a model is served in production (None: registry-only) and where its history is kept."""

    endpoint_url: str | None
    history_store: DeploymentHistory

    def history(self) -> DeploymentHistory:
        """The durable promotion log."""
        return self.history_store
