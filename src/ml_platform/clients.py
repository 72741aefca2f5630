"""Clients of a running platform's services, logged in with the platform's own secrets."""

from __future__ import annotations

from ml_platform.airflow_api import AirflowClient
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets


def airflow_client(layout: Layout) -> AirflowClient:
    """A REST client of the platform's Airflow, logged in as its admin (close it when done)."""
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    return AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
