"""Hook for an MLflow tracking server, configured by an Airflow Connection."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from mlflow import MlflowClient


class MlflowHook(BaseHook):
    """Interact with an MLflow tracking server over HTTP.

    The connection's host and port locate the server; its ``schema`` field is the
    URL scheme (``http`` when empty), as for Airflow's HTTP connections.

    Args:
        mlflow_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mlflow_conn_id = mlflow_conn_id

    @cached_property
    def tracking_uri(self) -> str:
        """The tracking server's base URL, from the connection."""
        conn = self.get_connection(self.mlflow_conn_id)
        if not conn.host:
            raise ValueError(f"connection '{self.mlflow_conn_id}' has no host: set it to the MLflow server's host")
        scheme = conn.schema or "http"
        port = f":{conn.port}" if conn.port else ""
        return f"{scheme}://{conn.host}{port}"

    def get_conn(self) -> MlflowClient:
        """An ``MlflowClient`` bound to the tracking server."""
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri)
