"""The model server's /metrics: requests by path and code, their latency, rows scored, the version served."""

import numpy as np
import pandas as pd
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sklearn.linear_model import LogisticRegression

from ml_pipeline.deployment.serving import LoadedModel, ModelServer, create_app


def served_model() -> LoadedModel:
    frame = pd.DataFrame({"amount": [1.0, 2.0, 30.0, 40.0], "hour": [1.0, 2.0, 3.0, 4.0]})
    model = LogisticRegression().fit(frame, [0, 0, 1, 1])
    return LoadedModel("fraud_detection", "7", "run-1", model, ["amount", "hour"],
                       {"amount": "double", "hour": "double"}, {})


def metrics(client: TestClient) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_requests_are_counted_by_path_and_code_and_timed():
    server = ModelServer("fraud_detection", "http://unused")
    client = TestClient(create_app(server))
    assert client.post("/predict", json={"rows": [{"amount": 1.0, "hour": 1.0}]}).status_code == 503  # no model
    server.current = served_model()
    rows = [{"amount": 35.0, "hour": 3.0}, {"amount": 1.5, "hour": 1.0}]
    assert client.post("/predict", json={"rows": rows}).status_code == 200
    assert client.post("/predict", json={"rows": rows[:1]}).status_code == 200
    assert client.post("/predict", json={"rows": [{"amount": 1.0}]}).status_code == 422  # a missing feature
    assert client.get("/health").status_code == 200
    client.get("/no/such/path")
    got = metrics(client)
    model = ("model", "fraud_detection")
    predict = (("code", "200"), model, ("path", "/predict"))
    assert got[("ml_serving_requests_total", predict)] == 2
    assert got[("ml_serving_requests_total", (("code", "422"), model, ("path", "/predict")))] == 1
    assert got[("ml_serving_requests_total", (("code", "503"), model, ("path", "/predict")))] == 1
    assert got[("ml_serving_requests_total", (("code", "404"), model, ("path", "other")))] == 1  # bounded labels
    assert got[("ml_serving_request_duration_seconds_count", (model, ("path", "/predict")))] == 4
    assert got[("ml_serving_request_duration_seconds_bucket", (("le", "+Inf"), model, ("path", "/predict")))] == 4
    assert got[("ml_serving_scored_rows_total", (model,))] == 3
    assert got[("ml_serving_model_info", (model, ("version", "7")))] == 1
    assert got[("ml_serving_model_loaded", (model,))] == 1
    assert not any(path == ("path", "/metrics") for _, labels in got for path in labels)  # scrapes not counted


def test_a_value_no_feature_can_take_is_the_callers_error_not_the_servers():
    server = ModelServer("fraud_detection", "http://unused")
    server.current = served_model()
    client = TestClient(create_app(server))
    for value in ({"nested": 1}, [1.0], 10**400):
        answer = client.post("/predict", json={"rows": [{"amount": 1.0, "hour": 1.0}, {"amount": value, "hour": 2.0}]})
        assert answer.status_code == 422, (value, answer.text)
        assert "row 1: feature 'amount'" in answer.json()["detail"]
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    answer = client.post("/predict", content=b'{"rows": ' + deep + b"}")
    assert (answer.status_code, answer.json()["detail"]) == (422, 'body is JSON nested too deep: expected {"rows": '
                                                                  '[{"feature": value, ...}, ...]}')
    assert client.post("/predict", json={"rows": [{"amount": "35", "hour": 2}]}).status_code == 200  # as before
    assert len(served_model().score([{"amount": np.int64(35), "hour": np.float32(2)}])) == 1  # numpy's, in process


def test_a_server_without_a_model_says_so():
    got = metrics(TestClient(create_app(ModelServer("fraud_detection", "http://unused"))))
    assert got[("ml_serving_model_loaded", (("model", "fraud_detection"),))] == 0
    assert not any(name == "ml_serving_model_info" for name, _ in got)
