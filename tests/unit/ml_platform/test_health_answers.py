"""What `ml-platform status` makes of a port that answers, but not as the platform's servers do.

A real HTTP server on a free loopback port answers `/health` and `/api/v2/monitor/health` with bodies of other
shapes (another program took the port, a proxy's error page in JSON, a server of another release): status says
so for that row instead of a traceback that hid every other row.
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from ml_platform.health import platform_health, serving_health


@pytest.fixture
def answering():
    """A server answering every GET with the JSON body set in ``answers["body"]``."""
    answers = {"body": None}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            payload = json.dumps(answers["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], answers
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("body", [["fraud_detection"], "ok", 7, {"status": "ok"}, None])
def test_a_port_answering_health_with_another_shape_is_a_wrong_server(answering, body):
    port, answers = answering
    answers["body"] = body
    said = serving_health(port, model="fraud_detection")
    assert said.startswith(f"WRONG SERVER: port {port} answers /health with no model server's report: "), said


def test_a_model_servers_report_with_missing_or_odd_fields_is_still_read(answering):
    port, answers = answering
    answers["body"] = {"model": "fraud_detection", "status": "ok", "prediction_log": "on"}
    assert serving_health(port, model="fraud_detection") == "serving fraud_detection vNone; prediction log off"
    answers["body"] = {"model": "fraud_detection", "status": "ok", "version": "3",
                       "prediction_log": {"written_rows": 5, "spilled_rows": 0, "dropped_rows": 1}}
    assert serving_health(port, model="fraud_detection") == (
        "serving fraud_detection v3; prediction log 5 written, 0 spilled, 1 dropped")
    answers["body"] = {"model": "churn", "status": "ok", "version": "1"}
    assert serving_health(port, model="fraud_detection") == (
        f"WRONG SERVER: port {port} answers for 'churn', not 'fraud_detection'")


@pytest.mark.parametrize("body", [["scheduler"], "healthy", {"scheduler": "healthy", "metadatabase": ["healthy"]}])
def test_airflow_health_of_another_shape_reads_as_unhealthy(answering, body):
    port, answers = answering
    answers["body"] = body
    url = f"http://127.0.0.1:{port}"
    health = platform_health(SimpleNamespace(mlflow_url=url, airflow_url=url))
    assert health == {"mlflow": True, "metadatabase": False, "scheduler": False, "triggerer": False,
                      "dag_processor": False}
    answers["body"] = {"metadatabase": {"status": "healthy"}, "scheduler": {"status": "healthy"}}
    assert platform_health(SimpleNamespace(mlflow_url=url, airflow_url=url)) == {
        "mlflow": True, "metadatabase": True, "scheduler": True, "triggerer": False, "dag_processor": False}
