"""The platform database's Airflow connection (field by field, so the Postgres provider builds its URL) and URLs."""

import json
import stat

from ml_platform import database
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets


def test_the_embedded_connection_names_the_socket_folder_as_its_host(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_PLATFORM_DATABASE_PREFIX", raising=False)
    layout = Layout(tmp_path)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert json.loads(database.airflow_connection(layout, "ml_platform")) == {
        "conn_type": "postgres", "host": str(layout.socket_dir), "login": "postgres",
        "password": secrets["database_password"], "schema": "ml_platform"}


def test_embedded_urls_name_the_password_file_and_never_hold_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    layout = Layout(tmp_path)
    password = ensure_secrets(layout.secrets_file, layout.passwords_file)["database_password"]
    url = database.database_url(layout, "mlflow")
    assert url == f"postgresql+psycopg2://postgres@/mlflow?host={tmp_path}/run&passfile={tmp_path}/pgpass"
    assert password not in url
    database.write_passfile(layout)
    assert layout.pgpass_file.read_text() == f"*:*:*:postgres:{password}\n"
    assert stat.S_IMODE(layout.pgpass_file.stat().st_mode) == 0o600


def test_a_server_argv_keeps_its_socket_to_the_platforms_user(tmp_path):
    assert "unix_socket_permissions=0700" in database.server_argv(Layout(tmp_path))


def test_the_external_connection_carries_server_credentials_and_the_prefixed_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ops:p%40ss@db.internal:6432")
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", "t1_")
    assert json.loads(database.airflow_connection(Layout(tmp_path), "ml_platform")) == {
        "conn_type": "postgres", "host": "db.internal", "port": 6432, "login": "ops", "password": "p@ss",
        "schema": "t1_ml_platform"}
