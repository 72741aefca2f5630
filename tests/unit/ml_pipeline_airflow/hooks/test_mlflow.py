import json

import pytest

from ml_pipeline_airflow.hooks.mlflow import MlflowHook


def test_tracking_uri_comes_from_the_connection(monkeypatch):
    conn = {"conn_type": "http", "host": "mlflow.internal", "port": 5001, "schema": "https"}
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(conn))
    assert MlflowHook().tracking_uri == "https://mlflow.internal:5001"
    assert MlflowHook().get_conn().tracking_uri == "https://mlflow.internal:5001"


def test_other_connection_id_and_default_scheme(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_STAGING", json.dumps({"conn_type": "http", "host": "staging"}))
    assert MlflowHook(mlflow_conn_id="mlflow_staging").tracking_uri == "http://staging"


def test_connection_without_host_says_what_to_set(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_EMPTY", json.dumps({"conn_type": "http"}))
    with pytest.raises(ValueError, match="'mlflow_empty' has no host"):
        _ = MlflowHook(mlflow_conn_id="mlflow_empty").tracking_uri
