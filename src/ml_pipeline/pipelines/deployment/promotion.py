"""Promotion: the challenger that passed its gates and canary becomes the champion, recorded and served."""

from __future__ import annotations

from ml_pipeline.deployment import history as hist
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.changes import deployment_event, publish_change
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.results import CanaryResult, Evaluation, PromotionResult
from ml_pipeline.pipelines.deployment.target import DeploymentTarget


def promote(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation,
            canary: CanaryResult) -> PromotionResult:
    """Move ``champion`` to the challenger (the old one keeps ``previous_champion``), record it, reload serving.

    Retrying after a failure is safe: the alias move and the history record are idempotent.

    Raises:
        DeploymentError: Production refused the new champion (the rollback puts the old one back).
        TransientError: MLflow or production cannot be reached now.
    """
    registry = ModelRegistry.for_run(ctx)
    version = evaluation["challenger"]["version"]
    before = (evaluation["champion"] or {}).get("version")
    reason = f"{evaluation['decision']['reason']} on {', '.join(evaluation['holdout']['days'])}"
    make_champion(registry, version)
    details = {"decision": evaluation["decision"], "holdout": evaluation["holdout"], "canary": canary}
    publish_change(ctx, target, registry, deployment_event(ctx, hist.PROMOTED, before, version, reason, details),
                   tagged=version)
    return {"version": version, "previous": before}


def make_champion(registry: ModelRegistry, version: str) -> None:
    """Point ``champion`` at ``version`` unless it is there already.

    The version it leaves keeps ``previous_champion``.
    """
    current = registry.champion()
    if current is None or current.version != version:
        registry.move_champion(version)
