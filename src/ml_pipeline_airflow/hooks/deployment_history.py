"""``DeploymentHistoryHook``: the promotion history's store, on the platform database ``ml_platform_db``."""

from __future__ import annotations

from airflow.sdk import BaseHook


class DeploymentHistoryHook(BaseHook):
    """Thin wrapper: the SQLAlchemy URL of the database that keeps ``deployment_events`` (and the DLQ)."""

    conn_name_attr = "history_conn_id"
    default_conn_name = "ml_platform_db"
    conn_type = "postgres"
    hook_name = "Deployment history (PostgreSQL)"

    def __init__(self, history_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.history_conn_id = history_conn_id

    @property
    def url(self) -> str:
        """The database URL, for ``DeploymentHistory``."""
        uri = self.get_connection(self.history_conn_id).get_uri()
        return uri.replace("postgres://", "postgresql+psycopg2://", 1).replace(
            "postgresql://", "postgresql+psycopg2://", 1)
