"""Where a model is served in production and where its deployments are recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_pipeline.deployment.client import ServingClient
from ml_pipeline.deployment.history import DeploymentHistory


@dataclass(frozen=True)
class DeploymentTarget:
    """Where a model is served in production (None: registry-only) and where its history is kept.

    ``admin_token`` is the production servers' ``ML_SERVING_ADMIN_TOKEN``: reloads and ``/version`` send it.
    """

    endpoint_url: str | None
    history_store: DeploymentHistory
    admin_token: str | None = field(default=None, repr=False)

    def serving(self) -> ServingClient:
        """A client of the production endpoint, with the admin token (``endpoint_url`` must be set)."""
        if not self.endpoint_url:
            raise ValueError("registry-only model: no production endpoint to talk to")
        return ServingClient(self.endpoint_url, admin_token=self.admin_token)

    def history(self) -> DeploymentHistory:
        """The durable promotion log."""
        return self.history_store
