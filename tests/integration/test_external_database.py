"""Production mode: the same database code against a real PostgreSQL server (the machine's, on 127.0.0.1:5432)."""

import uuid

import psycopg2
import pytest

from ml_platform import database
from ml_platform.components import components, platform_env
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets

pytestmark = pytest.mark.integration
SERVER = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def external_server(monkeypatch):
    try:
        psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc})")
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", SERVER)


def test_databases_are_created_once_on_the_external_server(external_server, tmp_path):
    layout = Layout(tmp_path)
    name = f"mltest_{uuid.uuid4().hex[:8]}"
    try:
        database.ensure_databases(layout, (name,))
        database.ensure_databases(layout, (name,))  # idempotent
        conn = psycopg2.connect(database.database_url(layout, name).replace("postgresql+psycopg2", "postgresql"))
        with conn.cursor() as cur:
            cur.execute("SELECT current_database()")
            assert cur.fetchone() == (name,)
        conn.close()
    finally:
        admin = psycopg2.connect(f"{SERVER}/postgres")
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://postgres@127.0.0.1:5432/airflow"
    assert "postgres" not in [c.name for c in components(layout)]
