"""The platform database's Airflow connection: field by field, so the Postgres provider builds its URL."""

import json

from ml_platform import database
from ml_platform.layout import Layout


def test_the_embedded_connection_names_the_socket_folder_as_its_host(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_PLATFORM_DATABASE_PREFIX", raising=False)
    layout = Layout(tmp_path)
    assert json.loads(database.airflow_connection(layout, "ml_platform")) == {
        "conn_type": "postgres", "host": str(layout.socket_dir), "login": "postgres", "schema": "ml_platform"}


def test_the_external_connection_carries_server_credentials_and_the_prefixed_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ops:p%40ss@db.internal:6432")
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", "t1_")
    assert json.loads(database.airflow_connection(Layout(tmp_path), "ml_platform")) == {
        "conn_type": "postgres", "host": "db.internal", "port": 6432, "login": "ops", "password": "p@ss",
        "schema": "t1_ml_platform"}
