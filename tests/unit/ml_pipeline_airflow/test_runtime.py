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


def test_a_conf_key_the_dag_does_not_declare_fails_the_run_naming_the_closest_parameter():
    """Airflow keeps undeclared conf keys without a word: `acton: rollback` would have deployed."""
    from types import SimpleNamespace

    from airflow.sdk import DAG, Param

    from ml_pipeline_airflow.runtime import refuse_unknown_conf

    with DAG("d", schedule=None, params={"action": Param("deploy"), "to_version": Param(None)}) as declared:
        pass
    with DAG("training", schedule=None) as bare:
        pass

    def context(dag, conf):
        return {"dag": dag, "dag_run": SimpleNamespace(dag_id=dag.dag_id, conf=conf)}

    refuse_unknown_conf(context(declared, {"action": "rollback", "to_version": "3"}))
    refuse_unknown_conf(context(bare, {}))
    with pytest.raises(PermanentError) as raised:
        refuse_unknown_conf(context(declared, {"acton": "rollback", "to_versoin": "3"}))
    assert str(raised.value) == (
        "the run's conf names 'acton' (did you mean 'action'?), 'to_versoin' (did you mean 'to_version'?), which d "
        "does not know: its parameters are action, to_version. Trigger it again without them (nothing was done).")
    with pytest.raises(PermanentError, match="names 'date', which training does not know: it takes no conf"):
        refuse_unknown_conf(context(bare, {"date": "2026-01-01"}))


def test_a_partition_date_after_today_is_refused_at_once_not_waited_for(monkeypatch):
    import datetime as dt

    from ml_pipeline_airflow.tasks import validation

    today = dt.datetime.now(dt.UTC).date()
    for value, expected in ((None, None), (str(today), today)):
        monkeypatch.setattr(validation, "get_current_context", lambda v=value: {"params": {"partition_date": v}})
        assert validation.partition_day() == expected
    tomorrow = today + dt.timedelta(days=1)
    monkeypatch.setattr(validation, "get_current_context", lambda: {"params": {"partition_date": str(tomorrow)}})
    with pytest.raises(PermanentError, match=f"partition_date {tomorrow} is after today"):
        validation.partition_day()
