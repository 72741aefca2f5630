import json

from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook


def test_the_provider_builds_the_url_and_both_stores_share_one_engine(monkeypatch):
    conn = {"conn_type": "postgres", "host": "/srv/platform/run", "login": "postgres", "schema": "ml_platform"}
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", json.dumps(conn))
    hook = PlatformDatabaseHook()
    assert hook.get_conn_id() == "ml_platform_db"
    url = hook.sqlalchemy_url
    assert (url.get_backend_name(), url.host, url.username, url.database) == (
        "postgresql", "/srv/platform/run", "postgres", "ml_platform")  # the socket folder stays the host
    assert hook.dead_letters.engine is hook.deployment_history.engine is hook.engine
    assert hook.engine.url.host == "/srv/platform/run"


def test_another_connection_id(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_PLATFORM_STAGING", "postgresql://ops:s3cret@db.internal:6432/ml_platform")
    url = PlatformDatabaseHook(platform_db_conn_id="platform_staging").sqlalchemy_url
    assert (url.host, url.port, url.username, url.password) == ("db.internal", 6432, "ops", "s3cret")
