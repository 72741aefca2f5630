"""The gates: judge the challenger against the champion on the same fresh holdout, and record a rejection."""

from __future__ import annotations

import logging

from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.deployment import history as hist
from ml_pipeline.evaluation.champion import ChampionScore, score_champion
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.changes import deployment_event
from ml_pipeline.pipelines.deployment.errors import RegistryStateError
from ml_pipeline.pipelines.deployment.holdout import keep_sample, labelled_features, landed_days
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.results import Evaluation
from ml_pipeline.pipelines.deployment.target import DeploymentTarget

log = logging.getLogger(__name__)


def evaluate_challenger(ctx: RunContext, version: str | None) -> Evaluation:
    """Score the challenger and the champion on the same fresh holdout (newest landed days) and apply the gates.

    Args:
        ctx: The deployment run.
        version: The version to judge; None: the one aliased ``challenger``.

    Returns:
        Both models' scores, the holdout, the gates' decision and a sample of holdout rows with the challenger's
        offline scores.

    Raises:
        RegistryStateError: There is no such version, or no ``challenger``.
        DataValidationError: No data has landed to judge on.
        TransientError: MLflow is unreachable: nothing is decided without the champion.
    """
    from ml_pipeline.evaluation.metrics import classification_metrics, promotion_decision

    cfg, name, registry = ctx.config, ctx.config.model_name, ModelRegistry.for_run(ctx)
    challenger = registry.challenger(version)
    if challenger is None:
        wanted = f"version {version}" if version else "'challenger' version"
        raise RegistryStateError(f"model {name} has no {wanted} to deploy: train one first")
    champion = registry.champion()
    days = landed_days(ctx)[-cfg.deployment.holdout_days:]
    if not days:
        raise DataValidationError(f"{ctx.dataset_uri}: no landed data to judge v{challenger.version} on")
    holdout = labelled_features(ctx, days)
    y = holdout[cfg.data.target_column].to_numpy()
    scores = registry.scores(challenger.version, holdout, cfg.data.features)
    metrics = classification_metrics(y, scores).as_dict()
    already = champion is not None and champion.version == challenger.version
    champion_score: ChampionScore | None = None
    if champion is not None and not already:
        champion_score = score_champion(
            champion, lambda: registry.scores(champion.version, holdout, cfg.data.features), y)
    decision = promotion_decision(metrics["auc"], champion_score and champion_score["auc"],
                                  cfg.deployment.min_auc_threshold, cfg.deployment.min_auc_improvement)
    if already:
        decision = {**decision, "promote": False, "reason": f"v{challenger.version} is already the champion"}
    registry.log_metric(challenger.run_id, "deployment_holdout_auc", metrics["auc"])
    canary = cfg.deployment.canary
    sample_uri = keep_sample(ctx, holdout, scores, canary.requests * canary.rows_per_request)
    log.info("gates for %s v%s on %s (%d rows): %s", name, challenger.version, [d.isoformat() for d in days],
             holdout.height, decision["reason"])
    return {"model": name, "challenger": {"version": challenger.version, "run_id": challenger.run_id,
                                          "auc": metrics["auc"], "metrics": metrics},
            "champion": champion_score, "holdout": {"days": [d.isoformat() for d in days], "rows": holdout.height},
            "decision": decision, "sample_uri": sample_uri}


def record_rejection(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation) -> dict:
    """Keep the refused challenger in the history with the gate's numbers; return the event as a dict."""
    event = target.history().record(deployment_event(
        ctx, hist.REJECTED, (evaluation["champion"] or {}).get("version"), evaluation["challenger"]["version"],
        evaluation["decision"]["reason"], {"decision": evaluation["decision"], "holdout": evaluation["holdout"]}))
    return event.to_dict()
