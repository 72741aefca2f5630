"""What MLflow's answers mean: "does not exist", "try again later", or a mistake of ours.

The registry adapter (``mlflow_registry``) asks these questions of every error it catches, so that "no answer" is
never read as "no model", and "no model" never fails a task.
"""

from __future__ import annotations

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from ml_pipeline.errors import PermanentError, TransientError

# What MLflow 3.17's server answers for a model or version that does not exist; a missing alias of an existing
# model is INVALID_PARAMETER_VALUE ("Registered model alias champion not found.").
NOT_FOUND_CODES = frozenset({"RESOURCE_DOES_NOT_EXIST"})
# Client errors that a later try may not meet (MLflow maps REQUEST_LIMIT_EXCEEDED to 429).
RETRYABLE_CLIENT_STATUS = frozenset({408, 429})
# What MLflow's client raises (INTERNAL_ERROR, read as a 500) when a URL answers 200 with a body that is not JSON.
NOT_JSON = "API request to endpoint was successful but the response body was not in a valid JSON format"


def is_not_found(exc: MlflowException) -> bool:
    """Whether MLflow answered that the model, version or alias asked for does not exist."""
    return exc.error_code in NOT_FOUND_CODES or (
        exc.error_code == "INVALID_PARAMETER_VALUE" and "not found" in str(exc.message).lower())


def none_if_not_found(exc: MlflowException, client: MlflowClient | None = None, name: str | None = None) -> None:
    """None when ``exc`` says "does not exist"; otherwise raise what it means.

    Given the ``client`` and the model ``name`` the question was about, a 403 counts as "does not exist" when the
    model itself is not found: MLflow's basic-auth app answers 403, not 404, to anyone but an admin asking for a
    version or an alias of a missing model.

    Raises:
        TransientError: MLflow is unreachable or failing (connection refused, timeout, HTTP 429 or 5xx: the
            client's own error for a dead connection is an ``INTERNAL_ERROR``, 500).
        MlflowException: ``exc`` itself for any other client error (a malformed request, a permission denied on a
            model that exists): permanent.
        PermanentError: The tracking URI answers, but not as MLflow does (a web page where JSON was due): it
            points at another web server, which retrying will not change.
    """
    from ml_pipeline.failures.classification import one_line

    if str(exc.message).startswith(NOT_JSON):
        raise PermanentError(f"the MLflow tracking URI answered, but not as MLflow does ({one_line(exc, 200)}): it "
                             "points at another web server. Set MLFLOW_TRACKING_URI (or the connection "
                             "mlflow_default) to the MLflow server's URL") from exc
    status = exc.get_http_status_code()
    if is_not_found(exc) or (client is not None and name is not None and status == 403
                             and _model_missing(client, name)):
        return None
    if 400 <= status < 500 and status not in RETRYABLE_CLIENT_STATUS:
        raise exc
    raise TransientError(f"MLflow registry unreachable or failing: {one_line(exc)}") from exc


def _model_missing(client: MlflowClient, name: str) -> bool:
    """Whether registered model ``name`` does not exist (raises as ``none_if_not_found`` when MLflow fails)."""
    try:
        client.get_registered_model(name)
    except MlflowException as exc:
        none_if_not_found(exc)
        return True
    return False
