"""``ModelServingHook``: where each model endpoint is served and its admin token (connection ``serving_default``)."""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseHook


class ModelServingHook(BaseHook):
    """Base URLs of the model servers, by endpoint name, from the connection's extra ``endpoints``.

    The embedded platform keeps ``serving_default`` in Airflow's metadata database, ``{"password": "<admin token>",
    "extra": {"endpoints": {"fraud-detection-api": "http://127.0.0.1:8500"}}}``, updated by its supervisor when a
    model is added, removed or disabled (``ml_platform.serving_connection``); ``AIRFLOW_CONN_SERVING_DEFAULT``, when
    set, wins (production points the names at its load balancer).
    The connection's **password** is the servers' admin token (their ``ML_SERVING_ADMIN_TOKEN``): deployments
    send it as ``Authorization: Bearer`` on ``/admin/reload`` and ``/version``. Without one, a server with a token
    answers 401 and one without answers 403 to a reload.
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
                             f"extra 'endpoints' (has {sorted(endpoints)}): the embedded platform serves an enabled "
                             "model's endpoint within ~10 s of its config appearing (check `make status` and "
                             "supervisor.log); elsewhere, add it to the connection")
        return str(endpoints[endpoint_name]).rstrip("/")

    def admin_token(self) -> str | None:
        """The model servers' admin token: the connection's password (None when it has none)."""
        return self.get_connection(self.serving_conn_id).password or None
