"""The platform database's Airflow connection (field by field, so the Postgres provider builds its URL) and URLs."""

import json
import stat

import pytest
import sqlalchemy as sa

from ml_platform import database
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets


def test_the_embedded_connection_names_the_socket_folder_as_its_host(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_PLATFORM_DATABASE_PREFIX", raising=False)
    layout = Layout(tmp_path)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert json.loads(database.airflow_connection(layout, "ml_platform")) == {
        "conn_type": "postgres", "host": str(layout.socket_dir), "login": "ml_platform",
        "password": secrets["database_password_ml_platform"], "schema": "ml_platform"}
    airflow, admin = (json.loads(database.airflow_connection(layout, name)) for name in ("airflow", "postgres"))
    assert (airflow["login"], airflow["password"]) == ("airflow", secrets["database_password_airflow"])
    assert (admin["login"], admin["password"]) == ("postgres", secrets["database_password"])


def test_embedded_urls_name_the_password_file_and_never_hold_the_password(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_PLATFORM_DATABASE_PREFIX", raising=False)
    layout = Layout(tmp_path)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    url = database.database_url(layout, "mlflow")
    assert url == f"postgresql+psycopg2://mlflow@/mlflow?host={tmp_path}/run&passfile={tmp_path}/pgpass"
    assert all(secrets[name] not in url for name in secrets)
    database.write_passfile(layout)
    assert layout.pgpass_file.read_text() == (
        f"*:*:*:postgres:{secrets['database_password']}\n*:*:*:airflow:{secrets['database_password_airflow']}\n"
        f"*:*:*:mlflow:{secrets['database_password_mlflow']}\n"
        f"*:*:*:ml_platform:{secrets['database_password_ml_platform']}\n")
    assert stat.S_IMODE(layout.pgpass_file.stat().st_mode) == 0o600


def test_each_embedded_database_is_reached_as_the_role_that_owns_it(tmp_path, monkeypatch):
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", "t1_")  # a prefix names databases, never roles
    layout = Layout(tmp_path)
    users = {name: sa.make_url(database.database_url(layout, name)) for name in
             ("airflow", "mlflow", "mlflow_auth", "ml_platform", "postgres", "kept")}
    assert {name: (url.username, url.database) for name, url in users.items()} == {
        "airflow": ("airflow", "t1_airflow"), "mlflow": ("mlflow", "t1_mlflow"),
        "mlflow_auth": ("mlflow", "t1_mlflow_auth"), "ml_platform": ("ml_platform", "t1_ml_platform"),
        "postgres": ("postgres", "postgres"), "kept": ("postgres", "t1_kept")}
    assert sa.make_url(database.database_url(layout, "airflow", user="postgres")).username == "postgres"


def test_a_password_in_the_password_file_escapes_backslashes_and_colons(tmp_path, monkeypatch):
    layout = Layout(tmp_path)
    ensure_secrets(layout.secrets_file, layout.passwords_file)
    values = json.loads(layout.secrets_file.read_text())
    layout.secrets_file.write_text(json.dumps({**values, "database_password_mlflow": "a:b\\c"}))
    database.write_passfile(layout)
    assert "*:*:*:mlflow:a\\:b\\\\c\n" in layout.pgpass_file.read_text()


def test_a_role_without_its_secret_is_named(tmp_path):
    layout = Layout(tmp_path)
    values = ensure_secrets(layout.secrets_file, layout.passwords_file)
    layout.secrets_file.write_text(json.dumps({k: v for k, v in values.items() if k != "database_password_airflow"}))
    with pytest.raises(RuntimeError, match="no 'database_password_airflow'.*ml-platform up"):
        database.write_passfile(layout)


def test_a_server_argv_keeps_its_socket_to_the_platforms_user(tmp_path):
    assert "unix_socket_permissions=0700" in database.server_argv(Layout(tmp_path))


def test_the_external_connection_carries_server_credentials_and_the_prefixed_name(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ops:p%40ss@db.internal:6432")
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", "t1_")
    assert json.loads(database.airflow_connection(Layout(tmp_path), "ml_platform")) == {
        "conn_type": "postgres", "host": "db.internal", "port": 6432, "login": "ops", "password": "p@ss",
        "schema": "t1_ml_platform"}


@pytest.mark.parametrize("prefix", ['x"; DROP DATABASE airflow; --', "team-a_", "a b"])
def test_a_database_prefix_that_is_not_a_plain_name_is_refused_naming_the_variable(prefix, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", prefix)
    with pytest.raises(ValueError, match="ML_PLATFORM_DATABASE_PREFIX=.*letters, digits and '_'"):
        database.database_name("airflow")
