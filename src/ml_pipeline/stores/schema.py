"""The platform database's schema: every store's table, created once when the platform starts."""

from __future__ import annotations

import sqlalchemy as sa

from ml_pipeline.deployment import history
from ml_pipeline.failures import dead_letters
from ml_pipeline.lineage import store as lineage
from ml_pipeline.monitoring import history as monitoring
from ml_pipeline.platform_health import store as platform_health
from ml_pipeline.stores.sql import create_engine, metadata

TABLES = (dead_letters.dead_letters, history.deployment_events, monitoring.model_monitoring,
          platform_health.platform_health, lineage.lineage_events)


def create_schema(database: str | sa.URL | sa.Engine) -> None:
    """Create every table of the platform database that does not exist yet; existing tables and rows are kept.

    Nullable columns and indexes a newer platform added to an existing table are created too (``create_all`` skips
    existing tables).
    """
    engine = database if isinstance(database, sa.Engine) else create_engine(database)
    try:
        metadata.create_all(engine, tables=list(TABLES), checkfirst=True)
        for table in TABLES:
            add_missing_columns(engine, table)
            for index in table.indexes:
                index.create(engine, checkfirst=True)
    finally:
        if engine is not database:
            engine.dispose()


def add_missing_columns(engine: sa.Engine, table: sa.Table) -> None:
    """Add the nullable columns a newer platform added to an existing ``table``."""
    present = {column["name"] for column in sa.inspect(engine).get_columns(table.name)}
    missing = [column for column in table.columns if column.name not in present and column.nullable]
    if not missing:
        return
    guard = "IF NOT EXISTS " if engine.dialect.name == "postgresql" else ""  # two starts at once add it once
    with engine.begin() as conn:
        for column in missing:
            conn.execute(sa.text(f'ALTER TABLE "{table.name}" ADD COLUMN {guard}"{column.name}" '
                                 f"{column.type.compile(engine.dialect)}"))
