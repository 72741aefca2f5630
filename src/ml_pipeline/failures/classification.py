"""Transient or permanent: the one place that decides whether a failure is worth retrying.

Transient: the network, a timeout, throttling or a server error (HTTP 429 and 5xx) from S3, MLflow or any
other service, a database that is restarting, a partition that has not landed yet. Retrying later can succeed.
Permanent: everything else — bad data, a bad config, a bug (``KeyError``, ``TypeError``). Retrying wastes time
and delays the alert, so these fail at once.

Our own errors say which they are by type (``ml_pipeline.errors``). Client libraries' exceptions are matched by
qualified class name, so this module imports no client library: Airflow imports it when it parses a DAG.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

# TransientError lives in ml_pipeline.errors; importing it from here keeps working.
from ml_pipeline.errors import PermanentError, TransientError

TRANSIENT: tuple[type[BaseException], ...] = (TransientError, ConnectionError, TimeoutError)
# Transport-level failures of client libraries, by qualified name.
TRANSIENT_NAMES = frozenset({
    "requests.exceptions.ConnectionError", "requests.exceptions.Timeout", "requests.exceptions.ConnectTimeout",
    "requests.exceptions.ReadTimeout", "requests.exceptions.ChunkedEncodingError",
    "urllib3.exceptions.MaxRetryError", "urllib3.exceptions.NewConnectionError", "urllib3.exceptions.ProtocolError",
    "urllib3.exceptions.ReadTimeoutError", "httpx.TimeoutException", "httpx.NetworkError",  # every timeout, I/O
    "httpx.RemoteProtocolError", "botocore.exceptions.EndpointConnectionError",
    "botocore.exceptions.ConnectTimeoutError", "botocore.exceptions.ReadTimeoutError",
    "botocore.exceptions.ConnectionClosedError", "aiohttp.client_exceptions.ClientConnectionError",
    "aiohttp.client_exceptions.ServerTimeoutError",
})
DATABASE_ERRORS = frozenset({"psycopg2.OperationalError", "sqlalchemy.exc.OperationalError"})
DATABASE_BUSY = frozenset({"sqlalchemy.exc.TimeoutError"})  # no free connection in the pool within its timeout
MLFLOW_EXCEPTION = frozenset({"mlflow.exceptions.MlflowException"})
TRANSIENT_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
# Not INTERNAL_ERROR: it is MlflowException's default code, raised for client-side mistakes too.
TRANSIENT_MLFLOW_CODES = frozenset({"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED"})
# MLflow downloads a model's files in threads and raises one MlflowException whose text lists each file's error;
# the errors themselves are dropped. A server killed mid-download leaves only this text ("Connection broken:
# IncompleteRead", "Connection refused" …), so a download that failed on the transport is recognised by it.
MLFLOW_DOWNLOAD_FAILED = "failures occurred while downloading one or more artifacts"
TRANSPORT_FAILURE_TEXTS = re.compile(
    r"Connection (broken|aborted|refused|reset)|Max retries exceeded|RemoteDisconnected|IncompleteRead"
    r"|Read timed out|\b(" + "|".join(map(str, sorted(TRANSIENT_STATUS))) + r") (Client|Server) Error")


def is_transient(exc: BaseException) -> bool:
    """Whether retrying ``exc`` may succeed.

    Walking from ``exc`` to the exceptions it was raised from, the first one known to be permanent (a
    ``PermanentError``: bad data, bad config, a failed gate) or transient decides; unknown ones are permanent.
    """
    for link in exception_chain(exc):
        if isinstance(link, PermanentError):
            return False
        if _transient_itself(link):
            return True
    return False


def _transient_itself(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT):
        return True
    if _is_a(exc, TRANSIENT_NAMES):
        return True
    if getattr(exc, "error_code", None) in TRANSIENT_MLFLOW_CODES:
        return True
    if _is_a(exc, MLFLOW_EXCEPTION) and MLFLOW_DOWNLOAD_FAILED in (text := str(exc)):
        return TRANSPORT_FAILURE_TEXTS.search(text) is not None
    if _is_a(exc, DATABASE_ERRORS):
        return _database_unreachable(exc)
    if _is_a(exc, DATABASE_BUSY):
        return True
    return http_status(exc) in TRANSIENT_STATUS


def _database_unreachable(exc: BaseException) -> bool:
    """A database error is transient when the server is unreachable, restarting or busy, not for bad credentials."""
    original = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    code = getattr(original, "pgcode", None) or getattr(original, "sqlstate", None)  # psycopg2, psycopg 3
    if code:  # connection exception, shutdown, insufficient resources, a deadlock or serialization failure
        return code.startswith(("08", "57P", "53", "40001", "40P01"))
    text = str(original).lower()
    return not any(word in text for word in ("authentication failed", "does not exist", "permission denied",
                                             "pg_hba.conf", "no password supplied"))


def http_status(exc: BaseException) -> int | None:
    """The HTTP status an exception carries (requests/httpx ``response.status_code``, botocore metadata).

    Only what the instance carries counts: Airflow's exceptions declare a class-level ``status_code = 500``
    for its API, which says nothing about the failure.
    """
    status = vars(exc).get("status_code")
    response = getattr(exc, "response", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
        if status is None and isinstance(response, dict):  # botocore ClientError
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


def one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message`` (for alerts and the dead-letter queue)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    line = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during (explicit and implicit chaining)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _is_a(exc: BaseException, names: frozenset[str]) -> bool:
    """Whether ``exc`` is an instance of a class named in ``names`` (subclasses included)."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in names for cls in type(exc).__mro__)
