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


def test_the_connections_login_is_what_mlflow_clients_send(monkeypatch):
    """A real HTTP request from the hook's client carries the connection's login as Basic auth."""
    import base64
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization"))
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = b'{"experiments": []}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": server.server_port, "schema": "http",
             "login": "pipelines", "password": "s3cret-password"}))
        MlflowHook().get_conn().search_experiments()
    finally:
        server.shutdown()
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)  # the hook set them for its process
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    assert seen and seen[0] == "Basic " + base64.b64encode(b"pipelines:s3cret-password").decode()


def test_a_login_for_a_process_the_task_starts_leaves_the_tasks_own_alone(monkeypatch):
    """``login_env`` (the canary's staging server logs in as ``serving``) reads a connection without touching this
    process's environment; no connection, or one without a login, gives None."""
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "pipelines")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_SERVING", json.dumps(
        {"conn_type": "http", "host": "127.0.0.1", "port": 5000, "login": "serving", "password": "read-only"}))
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_ANONYMOUS", json.dumps({"conn_type": "http", "host": "127.0.0.1"}))
    assert MlflowHook(MlflowHook.serving_conn_name).login_env() == {
        "MLFLOW_TRACKING_USERNAME": "serving", "MLFLOW_TRACKING_PASSWORD": "read-only"}
    assert MlflowHook("mlflow_anonymous").login_env() is None
    assert MlflowHook("mlflow_nowhere").login_env() is None
    import os

    assert os.environ["MLFLOW_TRACKING_USERNAME"] == "pipelines"
