"""Which failures are retried: the one classification every task uses."""

import pytest
import requests
from mlflow.exceptions import MlflowException

from ml_pipeline import errors
from ml_pipeline.config import ConfigError
from ml_pipeline.data.loader import MissingPartitionError
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.deployment.client import ServingError
from ml_pipeline.deployment.serving import ModelLoadError
from ml_pipeline.failures import classification
from ml_pipeline.failures.classification import http_status, is_transient, one_line
from ml_pipeline.feature_store.settings import FeatureStoreConfigError
from ml_pipeline.pipelines.deployment import DeploymentError, RegistryStateError, WatchUnjudgedError
from ml_pipeline.training.resources import DeviceUnavailableError
from ml_pipeline.validation.quarantine import QuarantineError
from ml_pipeline.validation.rules import RulesError

TransientError = errors.TransientError


class HttpError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.response = type("Response", (), {"status_code": status})()


class MlflowLikeError(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.error_code = code


def raised_while_handling(outer: Exception, inner: Exception) -> Exception:
    """``outer`` raised inside ``except inner`` without ``from`` (how MLflow wraps connection errors)."""
    try:
        try:
            raise inner
        except Exception:
            raise outer  # noqa: B904
    except Exception as exc:
        return exc


@pytest.mark.parametrize("exc", [
    ConnectionRefusedError("refused"), TimeoutError("slow"), requests.exceptions.ConnectionError("down"),
    requests.exceptions.ReadTimeout("slow"), HttpError(503), HttpError(429), HttpError(500),
    MlflowLikeError("TEMPORARILY_UNAVAILABLE"), MissingPartitionError("not landed yet"), TransientError("x"),
    raised_while_handling(RuntimeError("API request to http://mlflow failed with exception ..."),
                          requests.exceptions.ConnectionError("Max retries exceeded")),
])
def test_transient_failures_are_retried(exc):
    assert is_transient(exc)


@pytest.mark.parametrize("exc", [
    KeyError("amount"), TypeError("bad"), ValueError("x"), HttpError(404), HttpError(400), HttpError(403),
    MlflowLikeError("RESOURCE_DOES_NOT_EXIST"), DataValidationError("bad rows"), ConfigError("bad yaml"),
    RulesError("bad rule"),
    raised_while_handling(DataValidationError("corrupt file"), ConnectionError("while reading")),
])
def test_permanent_failures_are_not(exc):
    assert not is_transient(exc)


def test_the_first_known_link_of_the_chain_decides():
    from airflow.sdk.exceptions import AirflowFailException

    try:
        raise AirflowFailException("DataValidationError: bad rows") from DataValidationError("bad rows")
    except AirflowFailException as exc:
        assert not is_transient(exc), "Airflow's class-level status_code=500 is no HTTP 500"
    assert is_transient(raised_while_handling(KeyError("x"), TimeoutError("slow")))  # raised during a timeout
    try:
        try:
            raise ConnectionError("down")
        except ConnectionError:
            raise KeyError("bug") from None
    except KeyError as exc:
        assert not is_transient(exc), "`from None` hides the context"


class PgError(Exception):
    def __init__(self, message: str, pgcode: str | None = None) -> None:
        super().__init__(message)
        self.pgcode = pgcode


PgError.__module__, PgError.__qualname__ = "psycopg2", "OperationalError"


def test_database_errors_are_transient_only_when_the_server_is_unreachable():
    assert is_transient(PgError('connection to server on socket "/run/.s.PGSQL.5432" failed: Connection refused'))
    assert is_transient(PgError("the database system is shutting down", pgcode="57P03"))
    assert not is_transient(PgError('password authentication failed for user "airflow"'))
    assert not is_transient(PgError('database "ml_platform" does not exist'))
    assert not is_transient(MlflowLikeError("INTERNAL_ERROR"))  # MlflowException's default code
    assert is_transient(PgError("deadlock detected", pgcode="40P01"))  # a second try goes through
    assert is_transient(PgError("could not serialize access due to concurrent update", pgcode="40001"))
    assert not is_transient(PgError('no pg_hba.conf entry for host "10.0.0.7", user "airflow"'))  # a config fix


def test_every_httpx_timeout_and_network_error_and_a_full_connection_pool_are_transient():
    import httpx
    import sqlalchemy.exc

    request = httpx.Request("POST", "http://127.0.0.1:8500/admin/reload")
    for exc in (httpx.WriteTimeout("slow", request=request), httpx.PoolTimeout("busy", request=request),
                httpx.WriteError("broken pipe", request=request), httpx.ConnectError("refused", request=request),
                httpx.ReadTimeout("slow", request=request), sqlalchemy.exc.TimeoutError("QueuePool limit reached")):
        assert is_transient(exc), exc
    assert not is_transient(httpx.UnsupportedProtocol("ftp://x", request=request))


def test_http_status_and_one_line_summary():
    assert http_status(HttpError(502)) == 502 and http_status(KeyError("x")) is None
    assert one_line(KeyError("amount")) == "KeyError: 'amount'"
    assert one_line(DataValidationError("first line\nsecond")) == "DataValidationError: first line"
    assert len(one_line(ValueError("x" * 1000), limit=50)) == 50


@pytest.mark.parametrize(("cls", "kind", "builtin"), [
    (ConfigError, errors.PermanentError, ValueError), (DataValidationError, errors.PermanentError, ValueError),
    (RulesError, errors.PermanentError, ValueError), (FeatureStoreConfigError, errors.PermanentError, ValueError),
    (DeviceUnavailableError, errors.PermanentError, RuntimeError),
    (QuarantineError, errors.PermanentError, LookupError), (DeploymentError, errors.PermanentError, RuntimeError),
    (ModelLoadError, errors.PermanentError, RuntimeError), (WatchUnjudgedError, errors.PermanentError, RuntimeError),
    (RegistryStateError, errors.PermanentError, ValueError),
    (MissingPartitionError, errors.TransientError, FileNotFoundError),
    (ServingError, errors.PipelineError, RuntimeError),
])
def test_every_error_of_ours_is_placed_in_the_hierarchy_and_keeps_its_builtin(cls, kind, builtin):
    assert issubclass(cls, kind) and issubclass(cls, builtin)
    assert issubclass(kind, errors.PipelineError)
    assert not (issubclass(cls, errors.PermanentError) and issubclass(cls, errors.TransientError))


def test_the_old_import_path_of_transient_error_is_the_same_class():
    assert classification.TransientError is errors.TransientError


@pytest.mark.parametrize("exc", [
    DeploymentError("canary failed"), ModelLoadError("no signature"), QuarantineError("no such entry"),
    DeviceUnavailableError("no GPU"), FeatureStoreConfigError("bad extras"), ServingError("refused", 409),
])
def test_permanent_errors_and_refusals_are_not_retried(exc):
    assert not is_transient(exc)


def test_the_hierarchy_decides_not_a_list_of_names():
    class NewGateFailed(errors.PermanentError):
        """A permanent error nobody registered anywhere."""

    class NewServiceDown(errors.TransientError):
        """A transient error nobody registered anywhere."""

    assert not is_transient(NewGateFailed("x")) and is_transient(NewServiceDown("x"))
    assert not is_transient(raised_while_handling(NewGateFailed("bad data"), TimeoutError("while reading")))
    assert is_transient(raised_while_handling(NewServiceDown("MLflow down"), KeyError("x")))
    named = classification.TRANSIENT_NAMES | classification.DATABASE_ERRORS
    assert not [name for name in named if name.startswith("ml_pipeline")], "our own classes go by type"


def test_a_serving_error_is_classified_by_its_status_or_cause():
    import httpx

    assert is_transient(ServingError("answered 503", 503)) and is_transient(ServingError("answered 429", 429))
    assert not is_transient(ServingError("answered 422", 422)) and not is_transient(ServingError("no status"))
    try:
        raise ServingError("POST /admin/reload: ConnectError") from httpx.ConnectError("refused")
    except ServingError as exc:
        assert is_transient(exc)


def mlflow_download_failed(*errors: str) -> Exception:
    """The MlflowException MLflow's artifact download raises: each file's error as text, the errors dropped
    (``ArtifactRepository.download_artifacts``)."""
    failures = "\n".join(f"##### File {name} #####\n{error}" for name, error in zip(
        ("model.skops", "MLmodel", "conda.yaml"), errors, strict=False))
    return MlflowException(message="The following failures occurred while downloading one or more artifacts from "
                                   f"http://127.0.0.1:5000/api/2.0/mlflow-artifacts/artifacts/1/models/m-1:\n{failures}")


def test_a_model_download_cut_by_the_server_going_away_is_transient():
    """MLflow killed while a deployment step downloaded the challenger (the chaos suite, 2026-12-06): the step failed
    at once instead of being retried. The texts are those of that run's log."""
    assert is_transient(mlflow_download_failed(
        "('Connection broken: IncompleteRead(65536 bytes read, 56837 more expected)', "
        "IncompleteRead(65536 bytes read, 56837 more expected))"))
    assert is_transient(mlflow_download_failed(
        "HTTPConnectionPool(host='127.0.0.1', port=37833): Max retries exceeded with url: /api/2.0/mlflow-artifacts "
        "(Caused by NewConnectionError(\"Failed to establish a new connection: [Errno 111] Connection refused\"))"))
    assert is_transient(mlflow_download_failed("404 Client Error: Not Found", "503 Server Error: Service Unavailable"))


def test_a_model_download_refused_for_what_it_asked_stays_permanent():
    assert not is_transient(mlflow_download_failed("404 Client Error: Not Found for url: http://127.0.0.1:5000/x"))
    assert not is_transient(mlflow_download_failed("403 Client Error: Forbidden", "[Errno 28] No space left on device"))
    # the same words outside a download say nothing about one
    assert not is_transient(MlflowException("Invalid parameter: 'Connection refused' is not a run name"))
