"""``PlatformDatabaseHook``: the platform's own database (connection ``ml_platform_db``) and the stores it keeps."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from airflow.providers.postgres.hooks.postgres import PostgresHook

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ml_pipeline.deployment.history import DeploymentHistory
    from ml_pipeline.failures.dead_letters import DeadLetterStore
    from ml_pipeline.monitoring.history import MonitoringHistory
    from ml_pipeline.platform_health.store import PlatformHealthStore


class PlatformDatabaseHook(PostgresHook):
    """The dead-letter queue, the promotion history, the monitoring and platform-health checks, on one engine.

    The Postgres provider turns the connection into the SQLAlchemy URL (host, or the socket folder, login, password,
    schema; ``sqlalchemy_scheme`` and ``sqlalchemy_query`` extras); the stores share the engine made from it.

    Args:
        platform_db_conn_id: Connection of the platform database (``ml_platform``).
    """

    conn_name_attr = "platform_db_conn_id"
    default_conn_name = "ml_platform_db"
    hook_name = "ML platform database"

    @cached_property
    def engine(self) -> Engine:
        """The engine both stores use: pre-ping, and a connect timeout unless the connection sets one."""
        from ml_pipeline.stores.sql import engine_options

        return self.get_sqlalchemy_engine(engine_kwargs=engine_options(self.sqlalchemy_url))

    @cached_property
    def dead_letters(self) -> DeadLetterStore:
        """The dead-letter queue."""
        from ml_pipeline.failures.dead_letters import DeadLetterStore

        return DeadLetterStore(self.engine)

    @cached_property
    def deployment_history(self) -> DeploymentHistory:
        """The promotion history."""
        from ml_pipeline.deployment.history import DeploymentHistory

        return DeploymentHistory(self.engine)

    @cached_property
    def monitoring(self) -> MonitoringHistory:
        """The monitoring checks of every model's champion."""
        from ml_pipeline.monitoring.history import MonitoringHistory

        return MonitoringHistory(self.engine)

    @cached_property
    def platform_health(self) -> PlatformHealthStore:
        """The platform's own health checks (``monitoring_ml_pipelines``)."""
        from ml_pipeline.platform_health.store import PlatformHealthStore

        return PlatformHealthStore(self.engine)

    def create_schema(self) -> None:
        """Create the stores' tables that do not exist yet (the platform does this once, when it starts)."""
        from ml_pipeline.stores.schema import create_schema

        create_schema(self.engine)
