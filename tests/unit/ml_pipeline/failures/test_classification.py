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


def test_http_status_and_one_line_summary():
    assert http_status(HttpError(502)) == 502 and http_status(KeyError("x")) is None
    assert one_line(KeyError("amount")) == "KeyError: 'amount'"
    assert one_line(DataValidationError("first line\nsecond")) == "DataValidationError: first line"
    assert len(one_line(ValueError("x" * 1000), limit=50)) == 50
