"""Clients of a running platform's services, logged in with the platform's own secrets."""

from __future__ import annotations

from ml_platform.airflow_api import AirflowClient
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets


def airflow_client(layout: Layout) -> AirflowClient:
    """A REST client of the platform's Airflow, logged in as its admin (close it when done).

    Raises:
        LookupError: No platform was ever started in ``layout``'s home (its secrets are written by the first ``up``;
            a client must not write them: a later ``up`` would start with secrets nobody chose).
    """
    if not layout.secrets_file.exists():
        raise LookupError(f"no platform in {layout.home}: {layout.secrets_file.name} is not there, so none was ever "
                          "started in it; `make up`, or set ML_PLATFORM_HOME to the platform's home")
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    return AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
