"""Verification: production serves the version the registry names, is healthy, and scores as offline."""

from __future__ import annotations

from ml_pipeline.deployment.client import ServingError
from ml_pipeline.errors import TransientError
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.errors import DeploymentError
from ml_pipeline.pipelines.deployment.holdout import SMOKE_ROWS, smoke_sample
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.results import Evaluation, Verification
from ml_pipeline.pipelines.deployment.target import DeploymentTarget


def verify(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation, version: str | None) -> Verification:
    """Production serves ``version`` (``/version``), is healthy, and scores smoke rows as offline."""
    return check_production(ctx, target, ModelRegistry.for_run(ctx), version, evaluation)


def check_production(ctx: RunContext, target: DeploymentTarget, registry: ModelRegistry, version: str | None,
                     evaluation: Evaluation | None) -> Verification:
    """Check that ``champion`` is ``version`` and that production serves it, healthy, scoring as offline.

    Args:
        ctx: The deployment run.
        target: The production endpoint (None: registry-only, only the alias is checked).
        registry: The step's registry.
        version: The version that should be champion and served; None: nothing should be.
        evaluation: The deployment's evaluation, whose sample rows are sent (and, when ``version`` is its
            challenger, compared with their offline scores); None: rows of the newest landed day, not compared.

    Raises:
        DeploymentError: The registry or production disagree, production fails, or a score differs from offline.
        TransientError: MLflow or production is unreachable (or answers 429/5xx): nothing is concluded.
    """
    champion = registry.champion()
    if (champion.version if champion else None) != version:
        raise DeploymentError(f"registry: champion is v{champion.version if champion else None}, not v{version}")
    if not target.endpoint_url:
        return {"version": version, "endpoint": None}
    if version is None:  # nothing should be served
        return {"version": None, "endpoint": target.endpoint_url}
    client = target.serving()
    try:
        served = client.version()["version"]
        if served != version:
            raise DeploymentError(f"production {target.endpoint_url} serves v{served}, not v{version}")
        sample = smoke_sample(ctx, evaluation)
        answer = client.predict(sample.rows[:SMOKE_ROWS])
        health = client.health()
    except ServingError as exc:
        if is_transient(exc):  # unreachable, timed out, 503: retried; only the retries' end starts a rollback
            raise TransientError(f"production {target.endpoint_url} cannot be verified now: {exc}") from exc
        raise DeploymentError(f"production {target.endpoint_url} failed verification of v{version}: {exc}") from exc
    if answer["version"] != version or health.get("version") != version:
        raise DeploymentError(f"production answered with v{answer['version']} (health: {health}), not v{version}")
    expected = sample.expected(version)
    if expected:
        worst = max(abs(a - b) for a, b in zip(answer["scores"], expected[:SMOKE_ROWS], strict=True))
        if worst > ctx.config.deployment.canary.score_tolerance:
            raise DeploymentError(f"production v{version} scores differ from offline by {worst:.2e}")
    return {"version": version, "endpoint": target.endpoint_url, "smoke_rows": len(sample.rows[:SMOKE_ROWS])}
