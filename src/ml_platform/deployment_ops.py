"""Operate a running platform's deployments: the promotion history and manual rollbacks (``ml-pipeline``).

A rollback runs through the model's deployment DAG, named as the deployment DAG kind names it
(``ml_pipeline_airflow.dag_ids``).
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory
from ml_pipeline_airflow.dag_ids import DEPLOYMENT, dag_id
from ml_platform import database
from ml_platform.airflow_api import AirflowClient
from ml_platform.clients import airflow_client
from ml_platform.layout import Layout

WATCH_TASK = "watch_live_performance"


@dataclass(frozen=True)
class RollbackRun:
    """A manual rollback's deployment run: where it ran, how it ended, what it recorded."""

    dag_id: str
    run_id: str
    state: str
    event: DeploymentEvent | None  # the history event the run recorded (None when it recorded none)


def history(layout: Layout, model: str) -> list[DeploymentEvent]:
    """Every promotion, rejection and rollback of ``model``, oldest first."""
    return DeploymentHistory(database.database_url(layout, "ml_platform")).events(model)


def current_aliases(layout: Layout, model: str) -> dict[str, str]:
    """Alias → version of the model in the registry now (champion, previous_champion, challenger)."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry
    from ml_platform.mlflow_auth import use_platform_credentials

    use_platform_credentials(layout.secrets_file)
    client = MlflowClient(layout.mlflow_url)
    found = {alias: registry.alias_version(client, model, alias)
             for alias in (registry.CHAMPION, registry.PREVIOUS_CHAMPION, registry.CHALLENGER)}
    return {alias: version.version for alias, version in found.items() if version is not None}


def deployment_dag_id(model: str) -> str:
    """The id of ``model``'s deployment DAG, as the deployment DAG kind names it."""
    return dag_id(DEPLOYMENT, model)


def rollback(layout: Layout, model: str, to_version: str | None, reason: str, timeout: float = 900.0) -> RollbackRun:
    """Roll ``model`` back through its deployment DAG (``action=rollback``) and wait for the run to end.

    The run is queued behind any deployment in progress, never beside it.
    """
    dag_id = deployment_dag_id(model)
    conf = {"action": "rollback", "to_version": to_version, "reason": f"{reason} (by {getpass.getuser()})"}
    client = airflow_client(layout)  # first: it refuses a home where no platform ever ran
    try:
        check_rollback_target(layout, model, to_version)  # before any watch is ended
        end_watches(client, dag_id, f"ended by a manual rollback: {reason}")
        run = client.trigger(dag_id, None, conf=conf)
        state = client.wait_for_run(dag_id, run["dag_run_id"], timeout=timeout)
    finally:
        client.close()
    events = [e for e in history(layout, model) if e.run_id == run["dag_run_id"]]
    return RollbackRun(dag_id, run["dag_run_id"], state, events[-1] if events else None)


def check_rollback_target(layout: Layout, model: str, to_version: str | None) -> None:
    """``LookupError`` naming what there is when the version (default: ``previous_champion``) is none to roll to."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry
    from ml_platform.mlflow_auth import use_platform_credentials

    use_platform_credentials(layout.secrets_file)
    client = MlflowClient(layout.mlflow_url)
    if to_version is not None and registry.model_version(client, model, to_version) is None:
        raise LookupError(f"{model} has no version {to_version} in the registry: `ml-pipeline deployments {model}` "
                          "shows its versions; nothing was changed")
    if to_version is None and registry.alias_version(client, model, registry.PREVIOUS_CHAMPION) is None:
        raise LookupError(f"{model} has no previous_champion to roll back to: name a version with --to "
                          f"(`ml-pipeline deployments {model}` shows them); nothing was changed")


def end_watches(client: AirflowClient, dag_id: str, note: str) -> list[str]:
    """End the watch of a deployment that is waiting for tomorrow's data (mark it skipped).

    The person rolling back has judged the champion already, and the rollback must not queue behind a day-long
    wait. A deployment that is still gating, canarying or promoting is left alone: the rollback queues behind it
    (never interleaves).
    """
    ended = []
    for run in client.request("GET", f"/dags/{dag_id}/dagRuns", params={"state": "running"})["dag_runs"]:
        for ti in client.task_instances(dag_id, run["dag_run_id"]):
            if ti["task_id"] == WATCH_TASK and ti["state"] in ("deferred", "up_for_reschedule"):
                client.request("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{WATCH_TASK}",
                               json={"new_state": "skipped", "note": note[:1000]})
                ended.append(run["dag_run_id"])
    return ended
