"""The MLflow adapter's import-time choices."""

import subprocess
import sys


def test_talking_to_mlflow_does_not_import_feast():
    """MLflow loads Feast's request-header plugin at its first REST call (all of Feast: seconds of CPU per task);
    the registry adapter loads MLflow's header providers without it, and MLflow's own still answer."""
    code = ("import sys; from ml_pipeline.registry import mlflow_registry; "
            "from mlflow.tracking.request_header.registry import resolve_request_headers; "
            "headers = resolve_request_headers(); print('feast' in sys.modules, 'User-Agent' in headers)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "False True", out.stdout + out.stderr[-2000:]


def test_an_unreachable_registry_is_a_transient_error_not_an_absent_alias(monkeypatch):
    """Nothing listens on the port: the lookup raises ``TransientError`` instead of answering "no champion"."""
    import pytest
    from mlflow import MlflowClient

    from ml_pipeline.deployment.client import free_port
    from ml_pipeline.errors import TransientError
    from ml_pipeline.failures.classification import is_transient
    from ml_pipeline.registry import mlflow_registry as registry

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow retries a dead connection for minutes
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    client = MlflowClient(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(TransientError, match="unreachable or failing") as raised:
        registry.alias_version(client, "fraud_detection", registry.CHAMPION)
    assert is_transient(raised.value)
    with pytest.raises(TransientError):
        registry.model_version(client, "fraud_detection", "1")


def test_not_found_is_told_apart_from_other_registry_errors():
    """MLflow 3.17's answers (checked against a real server): 404 RESOURCE_DOES_NOT_EXIST for a missing model or
    version, 400 INVALID_PARAMETER_VALUE "... alias champion not found." for a missing alias."""
    import pytest
    from mlflow.exceptions import MlflowException, RestException

    from ml_pipeline.errors import TransientError
    from ml_pipeline.registry import answers

    def answer(code: str, message: str) -> RestException:  # what the client raises for the server's JSON error
        return RestException({"error_code": code, "message": message})

    missing_model = answer("RESOURCE_DOES_NOT_EXIST", "Registered Model with name=x not found")
    missing_alias = answer("INVALID_PARAMETER_VALUE", "Registered model alias champion not found.")
    bad_name = answer("INVALID_PARAMETER_VALUE", "Invalid alias name 'v1'")
    assert answers.is_not_found(missing_model) and answers.is_not_found(missing_alias)
    assert not answers.is_not_found(bad_name)
    assert answers.none_if_not_found(missing_alias) is None
    with pytest.raises(MlflowException) as raised:  # a malformed request is permanent: re-raised as it is
        answers.none_if_not_found(bad_name)
    assert raised.value is bad_name
    for code in ("INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"):
        with pytest.raises(TransientError):
            answers.none_if_not_found(answer(code, "failed"))


def test_a_refusal_about_a_missing_model_reads_as_absent_and_about_an_existing_one_stays_refused():
    """MLflow's basic-auth app answers 403 to a non-admin asking for an alias or version of a model that does not
    exist: that is "no champion"; a 403 about a model that exists is a permission problem and is raised."""
    import pytest
    from mlflow.exceptions import MlflowException, RestException

    from ml_pipeline.registry import mlflow_registry as registry

    refused = RestException({"error_code": "PERMISSION_DENIED", "message": "Permission denied"})
    assert refused.get_http_status_code() == 403

    class Registry:
        def __init__(self, models: set[str]) -> None:
            self.models = models

        def get_model_version_by_alias(self, name, alias):
            raise refused

        def get_model_version(self, name, version):
            raise refused

        def get_registered_model(self, name):
            if name not in self.models:
                raise RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": f"{name} not found"})
            return name

    assert registry.alias_version(Registry(set()), "new_model", registry.CHAMPION) is None
    assert registry.model_version(Registry(set()), "new_model", "1") is None
    with pytest.raises(MlflowException) as raised:
        registry.alias_version(Registry({"new_model"}), "new_model", registry.CHAMPION)
    assert raised.value is refused


def test_a_tracking_uri_that_answers_a_web_page_is_a_permanent_mistake_not_an_outage(monkeypatch):
    """A real web server answering 200 with HTML to every path (the tracking URI points at another app): MLflow's
    client raises its default INTERNAL_ERROR, which read as "registry unreachable" and was retried for good."""
    from http.server import ThreadingHTTPServer

    import pytest
    from mlflow import MlflowClient

    from ml_pipeline.errors import PermanentError
    from ml_pipeline.failures.classification import is_transient
    from ml_pipeline.registry import mlflow_registry as registry
    from tests.support.http_stubs import JsonHandler, serving

    class WebApp(JsonHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.answer(200, b"<html><body>Welcome to the wiki</body></html>", "text/html")

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), WebApp)) as server:
        client = MlflowClient(f"http://127.0.0.1:{server.server_address[1]}")
        with pytest.raises(PermanentError, match="answered, but not as MLflow does") as raised:
            registry.alias_version(client, "fraud_detection", registry.CHAMPION)
    assert "Welcome to the wiki" in str(raised.value) and "MLFLOW_TRACKING_URI" in str(raised.value)
    assert not is_transient(raised.value)
