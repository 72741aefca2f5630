"""Rollback: the champion of before goes back (after a failed deployment, or by hand), recorded and verified."""

from __future__ import annotations

from ml_pipeline.deployment import history as hist
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.changes import deployment_event, publish_change
from ml_pipeline.pipelines.deployment.errors import RegistryStateError
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.results import Evaluation, RollbackResult
from ml_pipeline.pipelines.deployment.target import DeploymentTarget
from ml_pipeline.pipelines.deployment.verification import check_production
from ml_pipeline.pipelines.deployment.watch import champion_now


def roll_back(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation, reason: str) -> RollbackResult:
    """Put the champion of before this deployment back (aliases and serving), verify it, record why.

    A rollback that fails for good is recorded (``rollback_failed``) and raised: a human must act. A transient
    failure (MLflow or production unreachable) is only raised: the task's retry finishes the rollback.
    """
    to = (evaluation["champion"] or {}).get("version")
    bad = evaluation["challenger"]["version"]
    registry = ModelRegistry.for_run(ctx)
    try:
        _go_back(ctx, target, registry, bad, to, reason)
        verified = check_production(ctx, target, registry, to, evaluation)
    except Exception as exc:
        if not is_transient(exc):
            target.history().record(deployment_event(ctx, hist.ROLLBACK_FAILED, bad, to,
                                                     f"{reason}; rollback failed: {exc}"))
        raise
    return {"from": bad, "to": to, "reason": reason, "verified": verified}


def moved_on(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation) -> str | None:
    """Why this deployment's rollback has no object any more; None: roll back.

    The champion must still be this deployment's version, or the one it replaced (a rollback of this run half done:
    a retry finishes it), and it must not be where another run put it since this run's promotion was recorded (a
    later deployment, or a rollback by hand, to whichever version). A cleared rollback must never undo either.
    """
    ours = (evaluation["challenger"]["version"], (evaluation["champion"] or {}).get("version"))
    now = champion_now(ctx)
    if now not in ours:
        return f"the champion moved on since this deployment (now {f'v{now}' if now else 'none'})"
    this_run = (ctx.dag_id, ctx.run_id)
    events = target.history().events(ctx.config.model_name)
    promoted = [i for i, e in enumerate(events) if e.action == hist.PROMOTED and (e.dag_id, e.run_id) == this_run]
    since = events[promoted[-1] + 1:] if promoted else []  # no record: the promotion stopped before it, roll back
    later = [e for e in since if e.action in (hist.PROMOTED, hist.ROLLED_BACK) and (e.dag_id, e.run_id) != this_run]
    # another run set the champion there is now (it may be this run's version again, but not because of this run);
    # a champion no later event names was set by this run again (a replayed promotion records no second event)
    if later and later[-1].to_version == now:
        e = later[-1]
        return (f"the champion moved on since this deployment ({e.action.replace('_', ' ')} "
                f"v{e.from_version or '-'} → v{e.to_version or '-'} by run {e.run_id})")
    return None


def rollback_to(ctx: RunContext, target: DeploymentTarget, to_version: str | None, reason: str) -> RollbackResult:
    """Manual rollback: champion back to ``to_version`` (default: ``previous_champion``), verified.

    The same path as an automatic one, smoke-tested on rows of the newest landed day (there is no holdout).

    Raises:
        RegistryStateError: No ``previous_champion`` and no version named, no such version, or it is the champion.
        TransientError: MLflow is unreachable: nothing is moved.
    """
    registry, name = ModelRegistry.for_run(ctx), ctx.config.model_name
    current = registry.champion()
    if to_version is None:
        previous = registry.previous_champion()
        if previous is None:
            raise RegistryStateError(f"model {name} has no 'previous_champion': name a version (--to)")
        to_version = previous.version
    to = str(to_version)
    if registry.version(to) is None:
        raise RegistryStateError(f"model {name} has no version {to} to roll back to")
    left = current.version if current else None
    if left == to:
        raise RegistryStateError(f"v{to} of {name} is already the champion: nothing to roll back")
    _go_back(ctx, target, registry, left, to, reason)
    return {"from": left, "to": to, "reason": reason, "verified": check_production(ctx, target, registry, to, None)}


def restore_champion(registry: ModelRegistry, history: hist.DeploymentHistory, to: str | None,
                     left: str | None) -> None:
    """Point ``champion`` back at ``to``, and ``previous_champion`` at the champion before ``to``.

    ``previous_champion`` never names ``left``, the version rolled back. ``to`` None (the first champion failed):
    no champion at all.
    """
    current = registry.champion()
    if to is None:
        if current is not None:
            registry.remove_champion()
        return
    if current is None or current.version != to:
        registry.move_champion(to)
    # Always, not only when champion moved: a retry after a failure between the two moves must still fix it.
    previous = history.champion_before(registry.name, to)
    registry.set_previous_champion(previous if previous != left else None)


def _go_back(ctx: RunContext, target: DeploymentTarget, registry: ModelRegistry, left: str | None, to: str | None,
             reason: str) -> None:
    """Restore the champion, then tag the version left, record the rollback and reload production."""
    restore_champion(registry, target.history(), to, left)
    publish_change(ctx, target, registry, deployment_event(ctx, hist.ROLLED_BACK, left, to, reason), tagged=left)
