"""Asset events posted by hand: a field of the wrong shape fails the run at once, naming the asset and the field."""

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset

from ml_pipeline.errors import PermanentError
from ml_pipeline_airflow.asset_events import event_causes, event_versions
from ml_pipeline_airflow.runtime import run_date, run_trigger
from ml_pipeline_airflow.tasks.deployment import challenger_version, version_param

ASSET = Asset(name="fraud_detection_registered", uri="model://fraud_detection/registered")


def context(*extras, params=None, run_type="asset_triggered") -> dict:
    return {"dag_run": SimpleNamespace(run_type=run_type, logical_date=None,
                                       run_after=dt.datetime(2026, 12, 1, tzinfo=dt.UTC)),
            "triggering_asset_events": {ASSET: [SimpleNamespace(extra=extra) for extra in extras]},
            "params": params or {}}


def test_our_own_events_read_as_before():
    registered = context({"model": "fraud_detection", "version": "12"}, {"model": "fraud_detection", "version": 9})
    assert challenger_version(registered) == "12" and event_versions(registered) == ["12", "9"]
    features = context({"days": ["2026-11-20", "2026-11-21"], "rows": 3}, {"trigger": "drift", "days": ["2026-11-19"]})
    assert run_date(features) == dt.date(2026, 11, 21) and run_trigger(features) == "drift"
    assert challenger_version(context({}, None)) is None  # no event names one: the challenger alias
    assert challenger_version(context({"version": None})) is None and event_causes(context({"trigger": None})) == []
    assert run_date(context(None)) == dt.date(2026, 12, 1)  # no days: the run's own date


@pytest.mark.parametrize(("extra", "read", "said"), [
    ({"version": "v12"}, challenger_version, "version = 'v12': version must be a registered version number"),
    ({"version": 12.0}, challenger_version, "version = 12.0"),
    ({"version": 0}, challenger_version, "version = 0"),
    ({"version": ""}, challenger_version, "version = ''"),
    ({"version": True}, challenger_version, "version = True"),
    ({"version": ["3"]}, challenger_version, "version = ['3']"),
    ({"Version": "7"}, challenger_version, "'Version' = '7': 'Version' must be written 'version'"),
    ({"days": "2026-11-20"}, run_date, "days = '2026-11-20': days must be a list of days written YYYY-MM-DD"),
    ({"days": [20261120]}, run_date, "days = [20261120]"),
    ({"days": ["20261120"]}, run_date, "days = ['20261120']"),
    ({"days": ["2026-02-30"]}, run_date, "days must be a list of real days"),
    ({"trigger": ["drift"]}, run_trigger, "trigger = ['drift']: trigger must be one lower-case word"),
    ({"trigger": ""}, run_trigger, "trigger = ''"),
    ("not an object", run_trigger, "extra = 'not an object': extra must be an object"),
])
def test_a_field_of_the_wrong_shape_fails_the_run_at_once_naming_the_asset_and_the_field(extra, read, said):
    with pytest.raises(PermanentError) as refused:
        read(context({"version": "3", "days": ["2026-11-20"]}, extra))  # a good event beside it changes nothing
    assert said in str(refused.value) and "fraud_detection_registered" in str(refused.value)
    assert "nothing was done" in str(refused.value)


def test_a_version_param_is_named_as_mlflow_names_versions():
    assert [version_param(v) for v in (3, "3", 3.0, "3\n")] == ["3", "3", "3", "3"]
    assert challenger_version(context({"version": "12"}, params={"version": 4.0})) == "4"  # the param wins
