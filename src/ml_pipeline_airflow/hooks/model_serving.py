"""``ModelServingHook``: where each model endpoint is served, from the Airflow connection ``serving_default``."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class ModelServingHook(BaseHook):
    """Base URLs of the model servers, by endpoint name, from the connection's extra ``endpoints``.

    ``make up`` sets ``AIRFLOW_CONN_SERVING_DEFAULT`` to ``{"extra": {"endpoints": {"fraud-detection-api":
    "http://127.0.0.1:8500"}}}``; production points the names at its load balancer.
    """

    conn_name_attr = "serving_conn_id"
    default_conn_name = "serving_default"
    conn_type = "generic"
    hook_name = "Model serving endpoints"

    def __init__(self, serving_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.serving_conn_id = serving_conn_id

    def endpoint_url(self, endpoint_name: str | None) -> str | None:
        """The base URL of ``endpoint_name`` (None for a registry-only model); a clear error when not configured."""
        if endpoint_name is None:
            return None
        endpoints = self.get_connection(self.serving_conn_id).extra_dejson.get("endpoints") or {}
        if endpoint_name not in endpoints:
            raise ValueError(f"connection '{self.serving_conn_id}' has no URL for endpoint '{endpoint_name}' in its "
                             f"extra 'endpoints' (has {sorted(endpoints)}): add it, or restart the platform "
                             "(`make up` serves every model with deployment.endpoint_name)")
        return str(endpoints[endpoint_name]).rstrip("/")
