"""What each component is started with: no secret on any command line, and only what it needs in its environment."""

import pytest

from ml_platform.components import components, platform_env
from ml_platform.layout import Layout
from ml_platform.process_env import only
from ml_platform.secrets import ensure_secrets

AIRFLOW_ONLY = ("fernet_key", "jwt_secret", "api_secret_key", "admin_password", "lineage_token", "database_password")


@pytest.fixture
def platform(tmp_path, monkeypatch):
    """The embedded platform's components, their environment and its secrets."""
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_SERVING_DEFAULT", raising=False)
    monkeypatch.delenv("ML_SERVING_ADMIN_TOKEN", raising=False)
    layout = Layout(tmp_path, serving_port=18500)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    return components(layout), {"HOME": "/root", "PATH": "/usr/bin", **platform_env(layout, secrets)}, secrets


def test_no_component_has_a_secret_on_its_command_line(platform, monkeypatch, tmp_path):
    specs, _, secrets = platform
    values = [value for name, value in secrets.items() if name != "admin_user"]
    assert not [(spec.name, arg) for spec in specs for arg in spec.argv if any(v in arg for v in values)]
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:s3cret-pw@db.internal:5432")
    [mlflow] = [spec for spec in components(Layout(tmp_path)) if spec.name == "mlflow"]
    assert not [arg for arg in mlflow.argv if "s3cret-pw" in arg]  # an external server's password, in its env
    assert "s3cret-pw" in mlflow.env["MLFLOW_BACKEND_STORE_URI"]


def test_model_servers_get_their_admin_token_and_none_of_the_airflow_or_database_secrets(platform):
    specs, env, secrets = platform
    servers = [spec for spec in specs if spec.name.startswith("serving-")]
    assert servers, "no model endpoint in the model configs"
    for spec in servers:
        started = spec.environment(env)
        assert started["ML_SERVING_ADMIN_TOKEN"] == secrets["serving_admin_token"]
        # MLflow's read-only user, never the tasks' (which may move aliases)
        assert (started["MLFLOW_TRACKING_USERNAME"], started["MLFLOW_TRACKING_PASSWORD"]) == (
            "serving", secrets["mlflow_serving_password"])
        assert started["MLFLOW_TRACKING_URI"] == env["MLFLOW_TRACKING_URI"] and started["PATH"] == env["PATH"]
        assert not [name for name in started if name.startswith("AIRFLOW")]
        assert not [name for name in AIRFLOW_ONLY if any(secrets[name] in value for value in started.values())]


def test_the_alert_sinks_exporter_and_database_server_get_no_secret(platform):
    specs, env, secrets = platform
    for spec in specs:
        if spec.name in ("alert-sinks", "metrics-exporter", "lineage-shipper", "postgres", "prometheus", "mlflow"):
            started = spec.environment(env)
            leaked = [name for name, value in secrets.items() if name != "admin_user"
                      and any(value in v for v in started.values())]
            # MLflow's server holds its auth app's CSRF key; its users' passwords are hashes in its auth database
            assert leaked == (["mlflow_flask_secret_key"] if spec.name == "mlflow" else []), (spec.name, leaked)
    airflow = [spec for spec in specs if spec.name == "scheduler"][0].environment(env)
    assert airflow["AIRFLOW__CORE__FERNET_KEY"] == secrets["fernet_key"]  # Airflow's own get everything


def test_the_serving_connection_carries_the_admin_token_as_its_password(platform, tmp_path):
    from ml_platform.serving_connection import serving_connection

    _, env, secrets = platform
    endpoints = Layout(tmp_path, serving_port=18500).serving_endpoints()  # kept in the metadata database
    assert serving_connection(endpoints, secrets["serving_admin_token"])["password"] == secrets["serving_admin_token"]
    assert env["ML_SERVING_ADMIN_TOKEN"] == secrets["serving_admin_token"]  # for the servers tasks start (canary)


def test_a_token_exported_in_the_shell_that_starts_up_is_not_the_servers_token(tmp_path, monkeypatch):
    """The supervisor writes the secret into `serving_default`: servers given the shell's token would refuse
    every deployment's reload (401) after the alias had moved."""
    monkeypatch.setenv("ML_SERVING_ADMIN_TOKEN", "a-token-of-the-shell")
    layout = Layout(tmp_path, serving_port=18500)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert platform_env(layout, secrets)["ML_SERVING_ADMIN_TOKEN"] == secrets["serving_admin_token"]


def test_only_keeps_named_variables_and_prefixes():
    assert only({"PATH": "p", "LC_ALL": "C", "LCX": "no", "AIRFLOW__X": "s"}, ("PATH", "LC_")) == {
        "PATH": "p", "LC_ALL": "C"}
