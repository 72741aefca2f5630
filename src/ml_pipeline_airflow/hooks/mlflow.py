"""Hook for an MLflow tracking server, configured by an Airflow Connection."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from mlflow import MlflowClient


class MlflowHook(BaseHook):
    """Interact with an MLflow tracking server over HTTP.

    The connection's host and port locate the server; its ``schema`` field is the
    URL scheme (``http`` when empty), as for Airflow's HTTP connections. Its login and
    password, when set, are the MLflow user the task logs in as (the server's basic-auth
    app): they become this process's ``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``,
    which every MLflow client of the task reads.

    Args:
        mlflow_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    serving_conn_name = "mlflow_serving"  # the read-only login of the model servers a task starts (the canary's)
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def tracking_uri(self) -> str:
        """The tracking server's base URL, from the connection (which also sets the process's MLflow login)."""
        conn = self.get_connection(self.mlflow_conn_id)
        if not conn.host:
            raise ValueError(f"connection '{self.mlflow_conn_id}' has no host: set it to the MLflow server's host")
        if conn.login:
            os.environ["MLFLOW_TRACKING_USERNAME"] = conn.login
            os.environ["MLFLOW_TRACKING_PASSWORD"] = conn.password or ""
        scheme = conn.schema or "http"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{conn.host}{port}"

    def login_env(self) -> dict[str, str] | None:
        """The connection's login as MLflow clients read it (``MLFLOW_TRACKING_USERNAME``/``_PASSWORD``).

        None when the connection is not defined or has no login. Unlike ``tracking_uri``, it leaves this process's
        environment alone: it is for a process the task starts (the canary's staging server).
        """
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            conn = self.get_connection(self.mlflow_conn_id)
        except AirflowNotFoundException:
            return None
        if not conn.login:
            return None
        return {"MLFLOW_TRACKING_USERNAME": conn.login, "MLFLOW_TRACKING_PASSWORD": conn.password or ""}

    def get_conn(self) -> MlflowClient:
        """An ``MlflowClient`` bound to the tracking server."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)

    def best_run(self, experiment: str, metric: str, maximize: bool = True) -> Any | None:
        """The finished run of ``experiment`` with the best ``metric`` (None when there is none)."""
        from ml_pipeline.registry import mlflow_registry

        return mlflow_registry.best_run(self.get_conn(), experiment, metric, maximize)

    def promote(self, model_name: str, version: str, alias: str = "champion") -> dict:
        """Move ``alias`` to ``version``; the version it left keeps ``previous_champion``."""
        from ml_pipeline.registry import mlflow_registry

        return mlflow_registry.promote(self.get_conn(), model_name, version, alias)

    def version_lineage(self, model_name: str, version_or_alias: str) -> dict[str, str]:
        """Data snapshot, code commit, config and run that produced a model version (number or alias)."""
        from ml_pipeline.registry import mlflow_registry

        return mlflow_registry.version_lineage(self.get_conn(), model_name, version_or_alias)
