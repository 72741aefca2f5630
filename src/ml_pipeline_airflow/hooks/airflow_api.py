"""``AirflowApiHook``: Airflow's REST API for tasks, which have no metadata-database access in Airflow 3."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook

from ml_pipeline_airflow.api_client import AirflowRestClient


class AirflowApiHook(BaseHook):
    """The platform's own Airflow API server, from the connection ``airflow_api`` (an ``http`` connection).

    Host, port and schema (``http``/``https``) locate the API server; login and password are a user of its auth
    manager. ``make up`` sets ``AIRFLOW_CONN_AIRFLOW_API`` to the platform's admin; production names a read-only
    service account instead.

    Args:
        airflow_api_conn_id: The Airflow connection to use.
    """

    conn_name_attr = "airflow_api_conn_id"
    default_conn_name = "airflow_api"
    conn_type = "http"
    hook_name = "Airflow REST API"

    def __init__(self, airflow_api_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.airflow_api_conn_id = airflow_api_conn_id

    def get_conn(self) -> AirflowRestClient:
        """A logged-in client of the API server the connection names."""
        conn = self.get_connection(self.airflow_api_conn_id)
        if not conn.host:
            raise ValueError(f"connection '{self.airflow_api_conn_id}' has no host: set it to Airflow's API server")
        port = f":{conn.port}" if conn.port else ""
        return AirflowRestClient(f"{conn.schema or 'http'}://{conn.host}{port}", conn.login or "", conn.password or "")
