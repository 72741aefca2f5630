"""MLflow's users written straight into its auth database: created once, passwords rotated, pipelines manage all."""

import os

import pytest

from ml_platform import mlflow_auth

PASSWORDS = {"admin": "admin-password-1", "pipelines": "pipelines-password-1", "serving": "serving-password-1"}


@pytest.fixture
def auth(tmp_path):
    """An empty auth database."""
    return f"sqlite:///{tmp_path / 'auth.db'}"


def store_of(url):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(url)
    return store


def test_users_are_created_once_with_only_admin_an_admin(auth):
    first = mlflow_auth.ensure_users(auth, PASSWORDS)
    assert sorted(first) == sorted([f"created MLflow user {user}" for user in PASSWORDS] + [
        "MANAGE on every experiment for pipelines", "MANAGE on every registered_model for pipelines"])
    assert mlflow_auth.ensure_users(auth, PASSWORDS) == []  # nothing twice
    store = store_of(auth)
    assert {user: store.get_user(user).is_admin for user in PASSWORDS} == {
        "admin": True, "pipelines": False, "serving": False}


def test_pipelines_manage_every_model_even_one_serving_created_and_serving_only_reads(auth):
    """The wildcard grant, folded as MLflow's server folds grants: a model made before authentication, or created
    first by ``serving`` under a name a pipeline will use, is still the pipelines' to manage."""
    from mlflow.server.auth.requirements import GrantLoadKey, fold_grants_for_key
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    mlflow_auth.ensure_users(auth, PASSWORDS)
    store = store_of(auth)
    store.grant_user_permission("serving", "registered_model", "squatted_model", "MANAGE")  # what creating it gives

    def permission(user, resource_type, name):
        grants = store.list_grants(store.get_user(user).id, DEFAULT_WORKSPACE_NAME, {resource_type})
        folded = fold_grants_for_key(grants, GrantLoadKey(resource_type, name))
        return folded.name if folded else None

    assert permission("pipelines", "registered_model", "squatted_model") == "MANAGE"
    assert permission("pipelines", "registered_model", "fraud_detection") == "MANAGE"
    assert permission("pipelines", "experiment", "7") == "MANAGE"
    assert permission("serving", "registered_model", "fraud_detection") is None  # the default: READ
    assert permission("serving", "experiment", "7") is None


def test_a_rotated_password_replaces_the_old_one(auth):
    mlflow_auth.ensure_users(auth, PASSWORDS)
    rotated = {**PASSWORDS, "serving": "serving-password-2"}
    assert mlflow_auth.ensure_users(auth, rotated) == ["new password for MLflow user serving"]
    store = store_of(auth)
    assert store.authenticate_user("serving", "serving-password-2")
    assert not store.authenticate_user("serving", "serving-password-1")


def test_the_config_escapes_a_percent_and_names_the_auth_database(tmp_path):
    import configparser

    path = mlflow_auth.write_config(tmp_path / "auth.ini", "postgresql://postgres@/mlflow_auth?host=%2Frun%2Fpg")
    assert path.stat().st_mode & 0o777 == 0o600
    config = configparser.ConfigParser()
    config.read(path)
    assert config["mlflow"]["database_uri"] == "postgresql://postgres@/mlflow_auth?host=%2Frun%2Fpg"
    assert config["mlflow"]["default_permission"] == "READ"


def test_the_users_command_names_a_missing_password_and_writes_nothing(tmp_path, monkeypatch, capsys):
    for name in mlflow_auth.PASSWORD_ENV.values():
        monkeypatch.setenv(name, "some-password-1")
    monkeypatch.delenv("MLFLOW_SERVING_PASSWORD")
    assert mlflow_auth.main(["--auth-database", f"sqlite:///{tmp_path / 'auth.db'}"]) == 2
    assert "MLFLOW_SERVING_PASSWORD not set" in capsys.readouterr().err
    assert not (tmp_path / "auth.db").exists()


def test_the_platform_login_goes_only_to_the_platforms_own_server(tmp_path, monkeypatch):
    from ml_platform.secrets import ensure_secrets

    secrets = ensure_secrets(tmp_path / "secrets.json", tmp_path / "passwords.json")
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://mlflow.elsewhere.example")
    mlflow_auth.use_platform_credentials(tmp_path / "secrets.json", "http://127.0.0.1:5000")
    assert "MLFLOW_TRACKING_PASSWORD" not in os.environ
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000/")
    mlflow_auth.use_platform_credentials(tmp_path / "secrets.json", "http://127.0.0.1:5000")
    assert os.environ["MLFLOW_TRACKING_PASSWORD"] == secrets["mlflow_pipelines_password"]


def test_airflow_holds_the_pipelines_login_for_tasks_and_the_read_only_one_for_the_canarys_server(tmp_path):
    """Tasks log in as ``pipelines`` (connection ``mlflow_default`` and the environment); the staging model server
    a deployment task starts logs in as ``serving`` (connection ``mlflow_serving``)."""
    import json

    from ml_platform.components import platform_env
    from ml_platform.layout import Layout
    from ml_platform.secrets import MLFLOW_PASSWORDS, ensure_secrets

    layout = Layout(tmp_path, airflow_port=18080, mlflow_port=15000)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    env = platform_env(layout, secrets)
    default, serving = (json.loads(env[f"AIRFLOW_CONN_MLFLOW_{name}"]) for name in ("DEFAULT", "SERVING"))
    assert (default["login"], default["password"]) == ("pipelines", secrets[MLFLOW_PASSWORDS["pipelines"]])
    assert (serving["login"], serving["password"]) == ("serving", secrets[MLFLOW_PASSWORDS["serving"]])
    assert (serving["host"], serving["port"]) == (default["host"], default["port"]) == ("127.0.0.1", 15000)
    assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == (
        "pipelines", secrets[MLFLOW_PASSWORDS["pipelines"]])


def test_an_external_auth_databases_password_stays_out_of_the_ini_file(tmp_path, monkeypatch):
    """The ini file names the auth database without its password; the users job and MLflow's server get it as
    libpq's PGPASSWORD. The embedded server's URL has no password: nothing to move."""
    from ml_platform.components import components
    from ml_platform.layout import Layout
    from ml_platform.secrets import ensure_secrets

    layout = Layout(tmp_path)
    ensure_secrets(layout.secrets_file, layout.passwords_file)
    embedded_url, embedded_env = mlflow_auth.auth_database(layout)
    assert "passfile=" in embedded_url and embedded_env == {}
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:db-s3cret@db.internal:5432")
    url, env = mlflow_auth.auth_database(layout)
    assert url == "postgresql+psycopg2://ml@db.internal:5432/mlflow_auth" and env == {"PGPASSWORD": "db-s3cret"}
    assert "db-s3cret" not in mlflow_auth.config_text(url)
    [server] = [c for c in components(layout) if c.name == "mlflow"]
    assert server.env["PGPASSWORD"] == "db-s3cret"
