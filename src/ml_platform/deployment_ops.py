"""Operate a running platform's deployments: the promotion history and manual rollbacks (``ml-pipeline``)."""

from __future__ import annotations

import getpass

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory
from ml_platform import database
from ml_platform.dead_letter_ops import client_for
from ml_platform.layout import Layout


def history(layout: Layout, model: str) -> list[DeploymentEvent]:
    """Every promotion, rejection and rollback of ``model``, oldest first."""
    return DeploymentHistory(database.database_url(layout, "ml_platform")).events(model)


def current_aliases(layout: Layout, model: str) -> dict[str, str]:
    """Alias → version of the model in the registry now (champion, previous_champion, challenger)."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry

    client = MlflowClient(layout.mlflow_url)
    found = {alias: registry.alias_version(client, model, alias)
             for alias in (registry.CHAMPION, registry.PREVIOUS_CHAMPION, registry.CHALLENGER)}
    return {alias: version.version for alias, version in found.items() if version is not None}


def rollback(layout: Layout, model: str, to_version: str | None, reason: str, timeout: float = 900.0) -> tuple[
        str, str, DeploymentEvent | None]:
    """Roll ``model`` back through its deployment DAG (``action=rollback``): queued behind any deployment in
    progress, never beside it. Returns (run id, final state, the history event it recorded)."""
    client = client_for(layout)
    dag_id = f"model_deployment_{model}"
    conf = {"action": "rollback", "to_version": to_version, "reason": f"{reason} (by {getpass.getuser()})"}
    run = client.trigger(dag_id, None, conf=conf)
    state = client.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)
    events = [e for e in history(layout, model) if e.run_id == run["dag_run_id"]]
    return run["dag_run_id"], state, events[-1] if events else None
