"""MLflow's users written straight into its auth database: created once, passwords rotated, old resources granted."""

import os
import sqlite3

import pytest

from ml_platform import mlflow_auth

PASSWORDS = {"admin": "admin-password-1", "pipelines": "pipelines-password-1", "serving": "serving-password-1"}


@pytest.fixture
def stores(tmp_path):
    """An empty auth database, and a tracking store holding an experiment and a model made before authentication."""
    tracking = tmp_path / "tracking.db"
    with sqlite3.connect(tracking) as conn:
        conn.execute("CREATE TABLE experiments (experiment_id INTEGER, name TEXT, lifecycle_stage TEXT)")
        conn.executemany("INSERT INTO experiments VALUES (?, ?, ?)",
                         [(7, "fraud_detection", "active"), (8, "gone", "deleted")])
        conn.execute("CREATE TABLE registered_models (name TEXT)")
        conn.execute("INSERT INTO registered_models VALUES ('fraud_detection')")
    return f"sqlite:///{tmp_path / 'auth.db'}", f"sqlite:///{tracking}"


def store_of(url):
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(url)
    return store


def test_users_are_created_once_with_only_admin_an_admin(stores):
    auth, tracking = stores
    first = mlflow_auth.ensure_users(auth, PASSWORDS, tracking)
    assert sorted(first) == sorted([f"created MLflow user {user}" for user in PASSWORDS] + [
        "MANAGE on experiment 7 for pipelines", "MANAGE on registered model fraud_detection for pipelines"])
    assert mlflow_auth.ensure_users(auth, PASSWORDS, tracking) == []  # nothing twice
    store = store_of(auth)
    assert {user: store.get_user(user).is_admin for user in PASSWORDS} == {
        "admin": True, "pipelines": False, "serving": False}
    assert store.get_experiment_permission("7", "pipelines").permission == "MANAGE"
    assert store.get_registered_model_permission("fraud_detection", "pipelines").permission == "MANAGE"
    with pytest.raises(Exception, match="not found|does not exist"):
        store.get_experiment_permission("8", "pipelines")  # deleted experiments are left alone
    with pytest.raises(Exception, match="not found|does not exist"):
        store.get_experiment_permission("7", "serving")  # serving reads by default and gets nothing more


def test_a_rotated_password_replaces_the_old_one(stores):
    auth, tracking = stores
    mlflow_auth.ensure_users(auth, PASSWORDS, tracking)
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
