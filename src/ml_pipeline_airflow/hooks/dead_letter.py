"""``DeadLetterHook``: the dead-letter queue's store, from the Airflow connection ``ml_platform_db``."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from ml_pipeline.failures.dead_letters import DeadLetterStore


class DeadLetterHook(BaseHook):
    """Thin wrapper: a ``DeadLetterStore`` on the PostgreSQL database of connection ``dead_letter_conn_id``."""

    conn_name_attr = "dead_letter_conn_id"
    default_conn_name = "ml_platform_db"
    conn_type = "postgres"
    hook_name = "Dead-letter queue (PostgreSQL)"

    def __init__(self, dead_letter_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.dead_letter_conn_id = dead_letter_conn_id

    @cached_property
    def store(self) -> DeadLetterStore:
        """The store, built once from the connection's URI."""
        from ml_pipeline.failures.dead_letters import DeadLetterStore

        uri = self.get_connection(self.dead_letter_conn_id).get_uri()
        return DeadLetterStore(uri.replace("postgres://", "postgresql+psycopg2://", 1))
