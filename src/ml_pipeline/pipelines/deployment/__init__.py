"""The deployment pipeline's steps: judge a challenger, canary it, promote it, verify, roll back, watch.

Every step takes the ``RunContext``, the ``DeploymentTarget`` (production endpoint, history database) where it
needs one, and the typed results earlier steps returned (``results``). Each step talks to MLflow through one
``ModelRegistry``. The champion alias moves only in ``promotion`` and ``rollback``, always followed by a history
record, an MLflow tag and production told to reload (``changes``), then checked over HTTP (``verification``). The
canary's staging server is started by the ``StagingLauncher`` the caller passes in, never by the step itself.

One module per concern: ``gates`` (evaluate, record a rejection), ``canary``, ``promotion``, ``verification``,
``rollback``, ``watch`` (live window and performance); ``holdout`` (the rows judged on), ``model_registry``,
``changes``, ``target``, ``results`` and ``errors`` are what they share.
"""

from ml_pipeline.pipelines.deployment.canary import StagingLauncher, StagingServer, record_canary_failure, run_canary
from ml_pipeline.pipelines.deployment.errors import DeploymentError, RegistryStateError, WatchUnjudgedError
from ml_pipeline.pipelines.deployment.gates import evaluate_challenger, record_rejection
from ml_pipeline.pipelines.deployment.holdout import labelled_features, landed_days
from ml_pipeline.pipelines.deployment.model_registry import ModelRegistry
from ml_pipeline.pipelines.deployment.promotion import make_champion, promote
from ml_pipeline.pipelines.deployment.results import (
    CanaryResult,
    Evaluation,
    LivePerformance,
    PromotionResult,
    RollbackResult,
    Verification,
)
from ml_pipeline.pipelines.deployment.rollback import moved_on, restore_champion, roll_back, rollback_to
from ml_pipeline.pipelines.deployment.target import DeploymentTarget
from ml_pipeline.pipelines.deployment.verification import check_production, verify
from ml_pipeline.pipelines.deployment.watch import champion_now, live_performance, live_window, record_unjudged

__all__ = [
    "CanaryResult", "DeploymentError", "DeploymentTarget", "Evaluation", "LivePerformance", "ModelRegistry",
    "PromotionResult", "RegistryStateError", "RollbackResult", "StagingLauncher", "StagingServer", "Verification",
    "WatchUnjudgedError", "champion_now", "check_production", "evaluate_challenger", "labelled_features",
    "landed_days", "live_performance", "live_window", "make_champion", "moved_on", "promote", "record_canary_failure",
    "record_rejection", "record_unjudged", "restore_champion", "roll_back", "rollback_to", "run_canary", "verify",
]
