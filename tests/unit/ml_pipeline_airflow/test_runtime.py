"""The runtime helpers every task shares: a failure is failed at once or retried according to its type."""

import pytest
from airflow.sdk import RetryAction
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline.data.loader import MissingPartitionError
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.errors import PermanentError, TransientError
from ml_pipeline.pipelines.deployment import DeploymentError
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from ml_pipeline_airflow.runtime import run_classified


def raising(exc: BaseException):
    def call():
        raise exc
    return call


class GateFailed(PermanentError):
    """A permanent error no list names: the type alone must fail the task."""


@pytest.mark.parametrize("exc", [DataValidationError("bad rows"), DeploymentError("canary failed"),
                                 GateFailed("auc below threshold")])
def test_a_permanent_error_fails_the_task_at_once(exc):
    with pytest.raises(AirflowFailException, match=type(exc).__name__) as raised:
        run_classified(raising(exc))
    assert raised.value.__cause__ is exc


def test_a_transient_failure_is_raised_as_transient_error_and_retried():
    with pytest.raises(TransientError) as raised:
        run_classified(raising(ConnectionRefusedError("MLflow down")))
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)
    assert TRANSIENT_ONLY.evaluate(raised.value, 1, 3).action == RetryAction.RETRY
    partition = MissingPartitionError("not landed yet")  # already a TransientError: passes through unchanged
    with pytest.raises(MissingPartitionError):
        run_classified(raising(partition))
    assert TRANSIENT_ONLY.evaluate(partition, 1, 3).action == RetryAction.RETRY


def test_a_bug_is_re_raised_and_not_retried():
    with pytest.raises(KeyError):
        run_classified(raising(KeyError("amount")))
    assert TRANSIENT_ONLY.evaluate(KeyError("amount"), 1, 3).action == RetryAction.FAIL
    assert run_classified(lambda: 42) == 42


def test_the_trigger_of_a_run_names_the_monitoring_cause_that_asked_for_it():
    from types import SimpleNamespace

    from ml_pipeline_airflow.runtime import run_date, run_trigger

    def context(run_type: str, *extras: dict) -> dict:
        events = [SimpleNamespace(extra=extra) for extra in extras]
        return {"dag_run": SimpleNamespace(run_type=run_type, logical_date=None, run_after=None),
                "triggering_asset_events": {"asset": events}}

    assert run_trigger(context("scheduled")) == "schedule"
    assert run_trigger(context("manual")) == "manual"
    assert run_trigger(context("asset_triggered", {"days": ["2026-11-20"]})) == "features"
    drift = context("asset_triggered", {"trigger": "drift", "days": ["2026-11-21"]}, {"days": ["2026-11-20"]})
    assert run_trigger(drift) == "drift"
    assert str(run_date(drift)) == "2026-11-21"  # the retraining trains up to the drifted day
    assert run_trigger(context("asset_triggered", {"trigger": "drift"}, {"trigger": "decay"})) == "decay+drift"
