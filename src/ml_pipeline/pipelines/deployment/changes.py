"""What follows every move of the ``champion`` alias: the version tagged, a history row, production reloaded.

Promotion and rollback move the alias their own way (``promotion.make_champion``, ``rollback.restore_champion``);
both then publish the change here, so that the registry's tags, the history and what production serves agree.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml_pipeline.deployment import history as hist
from ml_pipeline.deployment.client import ServingError
from ml_pipeline.errors import TransientError
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.errors import DeploymentError
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.target import DeploymentTarget


def deployment_event(ctx: RunContext, action: str, from_version: str | None, to_version: str | None, reason: str,
                     details: dict[str, Any] | None = None) -> hist.DeploymentEvent:
    """A history event of this run's model, made by this run."""
    return hist.DeploymentEvent(ctx.config.model_name, action, from_version, to_version, reason, ctx.dag_id,
                                ctx.run_id, details)


def publish_change(ctx: RunContext, target: DeploymentTarget, registry: ModelRegistry, event: hist.DeploymentEvent,
                   tagged: str | None) -> None:
    """Tag version ``tagged`` with the change, record ``event``, and make production serve the new champion.

    Args:
        ctx: The run that moved the alias.
        target: Where the model is served and its history kept.
        registry: The step's registry.
        event: The change (``promoted`` or ``rolled_back``), from → to, and why.
        tagged: The version the change is a fact about (the new champion of a promotion, the version a rollback
            left); None tags nothing.

    Raises:
        TransientError: Production cannot reload now (e.g. 503: it cannot reach MLflow); publishing again is safe.
        DeploymentError: Production refused the new champion.
    """
    if tagged:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        registry.tag(tagged, {f"deployment.{event.action}_at": now, "deployment.last_action": event.action,
                              "deployment.last_run": f"{ctx.dag_id}/{ctx.run_id}",
                              "deployment.last_reason": event.reason[:4000]})
    target.history().record(event)
    reload_production(target, event.to_version)


def reload_production(target: DeploymentTarget, version: str | None) -> None:
    """Tell production to serve the alias's version now (``version``, for the error); registry-only: nothing to do."""
    if not target.endpoint_url:
        return
    try:
        target.serving().reload()
    except ServingError as exc:
        if is_transient(exc):  # e.g. 503: it cannot reach MLflow now; moving the alias again is idempotent
            raise TransientError(f"production endpoint {target.endpoint_url} cannot reload now: {exc}") from exc
        raise DeploymentError(f"production endpoint {target.endpoint_url} did not take v{version}: {exc}") from exc
