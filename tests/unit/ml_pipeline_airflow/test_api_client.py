"""The platform's Airflow REST client: what it asks again, and what it never repeats.

The Airflow here is a real HTTP server that answers each call from a script and records it.
"""

from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from ml_pipeline_airflow import api_client
from ml_pipeline_airflow.api_client import AirflowApiError, AirflowRestClient
from tests.support.http_stubs import JsonHandler, serving


class ScriptedAirflow(ThreadingHTTPServer):
    """Airflow's login and any ``/api/v2`` call, answered with the next status of ``script`` (then 200)."""

    def __init__(self) -> None:
        self.script: list[int] = []
        self.calls: list[tuple[str, str]] = []
        self.logins = 0
        server = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's names
                if self.path == "/auth/token":
                    server.logins += 1
                    self.answer_json(201, {"access_token": f"token-{server.logins}"})
                else:
                    self._call()

            def do_GET(self) -> None:  # noqa: N802
                self._call()

            def do_PATCH(self) -> None:  # noqa: N802
                self._call()

            def do_DELETE(self) -> None:  # noqa: N802
                self._call()

            def _call(self) -> None:
                self.read_json()
                server.calls.append((self.command, self.path))
                status = server.script.pop(0) if server.script else 200
                body = {"detail": "Internal Server Error"} if status >= 400 else {"state": "success"}
                self.answer_json(status, body)

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def airflow(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedAirflow]:
    monkeypatch.setattr(api_client, "RETRY_DELAYS_S", (0.01, 0.01))
    with serving(ScriptedAirflow()) as server:
        yield server


@pytest.fixture
def client(airflow: ScriptedAirflow) -> Iterator[AirflowRestClient]:
    rest = AirflowRestClient(f"http://127.0.0.1:{airflow.server_address[1]}", "admin", "secret")
    yield rest
    rest.close()


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_an_idempotent_call_is_asked_again_after_a_server_error(airflow, client, method, status):
    """A deadlock lost to the scheduler (500) or a restarting worker (502-504) is not the caller's failure."""
    airflow.script = [status, status]
    assert client.request(method, "/dags/d/dagRuns/r", json={"state": "success"}) == {"state": "success"}
    assert airflow.calls == [(method, "/api/v2/dags/d/dagRuns/r")] * 3


def test_a_server_error_that_persists_is_raised_after_three_tries(airflow, client):
    airflow.script = [500, 500, 500, 500]
    with pytest.raises(AirflowApiError, match=r"PATCH /dags/d/dagRuns/r -> 500") as raised:
        client.request("PATCH", "/dags/d/dagRuns/r", json={"state": "success"})
    assert raised.value.status == 500
    assert len(airflow.calls) == 3 and airflow.script == [500]


def test_a_trigger_is_never_repeated(airflow, client):
    """A POST may have created the run before the error: asking again could start a second one."""
    airflow.script = [500]
    with pytest.raises(AirflowApiError) as raised:
        client.request("POST", "/dags/d/dagRuns", json={"logical_date": None})
    assert raised.value.status == 500
    assert airflow.calls == [("POST", "/api/v2/dags/d/dagRuns")]


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_a_refusal_is_raised_at_once(airflow, client, status):
    airflow.script = [status]
    with pytest.raises(AirflowApiError) as raised:
        client.request("GET", "/dags/d")
    assert raised.value.status == status
    assert len(airflow.calls) == 1


def test_an_expired_token_logs_in_again_once(airflow, client):
    airflow.script = [401, 200]
    assert client.request("GET", "/dags/d") == {"state": "success"}
    assert airflow.logins == 2 and len(airflow.calls) == 2

    airflow.script = [401, 401]
    with pytest.raises(AirflowApiError) as raised:
        client.request("GET", "/dags/d")
    assert raised.value.status == 401
    assert airflow.logins == 3


def test_a_post_its_caller_calls_idempotent_is_asked_again(airflow, client):
    """``ml-pipeline dlq replay``'s clear of only failed tasks clears nothing more the second time."""
    airflow.script = [500]
    assert client.request("POST", "/dags/d/clearTaskInstances", idempotent=True, json={}) == {"state": "success"}
    assert airflow.calls == [("POST", "/api/v2/dags/d/clearTaskInstances")] * 2
