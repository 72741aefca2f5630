"""Which failures are retried: the one classification every task uses."""

import pytest
import requests

from ml_pipeline.config import ConfigError
from ml_pipeline.data.loader import MissingPartitionError
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.failures.classification import TransientError, http_status, is_transient, one_line
from ml_pipeline.validation.rules import RulesError


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


def test_http_status_and_one_line_summary():
    assert http_status(HttpError(502)) == 502 and http_status(KeyError("x")) is None
    assert one_line(KeyError("amount")) == "KeyError: 'amount'"
    assert one_line(DataValidationError("first line\nsecond")) == "DataValidationError: first line"
    assert len(one_line(ValueError("x" * 1000), limit=50)) == 50
