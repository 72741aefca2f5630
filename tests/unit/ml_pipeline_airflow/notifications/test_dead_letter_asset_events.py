"""A dead letter of a run its asset events started keeps what they said, for a replay once the run is gone.

The run is the Task SDK's own ``DagRun`` (what a task's context holds), with real asset event references.
"""

import datetime as dt
from types import SimpleNamespace

from airflow.sdk.api.datamodels._generated import (
    AssetEventDagRunReference,
    AssetReferenceAssetEventDagRun,
    DagRun,
    DagRunState,
    DagRunType,
)

from ml_pipeline.failures.dead_letters import ASSET_EVENTS
from ml_pipeline_airflow.notifications.dead_letter import dead_letter

NOW = dt.datetime(2026, 12, 7, 2, 0, tzinfo=dt.UTC)


def event(uri: str, extra: dict) -> AssetEventDagRunReference:
    return AssetEventDagRunReference(
        asset=AssetReferenceAssetEventDagRun(name=uri, uri=uri, extra={}), extra=extra, source_task_id="register",
        source_dag_id="ml_training_fraud_detection", source_run_id="r", source_map_index=-1, source_aliases=[],
        timestamp=NOW)


def context(events: list[AssetEventDagRunReference]) -> dict:
    run = DagRun(dag_id="model_deployment_fraud_detection", run_id="asset_triggered__1", logical_date=None,
                 data_interval_start=None, data_interval_end=None, run_after=NOW, start_date=NOW, end_date=None,
                 run_type=DagRunType.ASSET_TRIGGERED, state=DagRunState.RUNNING, conf={},
                 consumed_asset_events=events, partition_key=None)
    ti = SimpleNamespace(dag_id=run.dag_id, run_id=run.run_id, task_id="evaluate_challenger", map_index=-1,
                         try_number=3)
    return {"ti": ti, "dag_run": run, "exception": RuntimeError("MLflow down"), "task": None}


def test_the_asset_events_that_started_the_run_are_kept_in_the_letter():
    letter = dead_letter("fraud_detection", context([
        event("ml://fraud_detection/registered", {"model": "fraud_detection", "version": "12"}),
        event("ml://fraud_detection/features", {"days": ["2026-12-05", "2026-12-06"]})]))
    assert letter.inputs == {ASSET_EVENTS: [
        {"uri": "ml://fraud_detection/registered", "extra": {"model": "fraud_detection", "version": "12"}},
        {"uri": "ml://fraud_detection/features", "extra": {"days": ["2026-12-05", "2026-12-06"]}}]}
    assert letter.logical_date is None and letter.conf == {}


def test_a_run_no_asset_event_started_keeps_no_events():
    assert dead_letter("fraud_detection", context([])).inputs == {}

    class DetachedRun:  # as an ORM run whose relation cannot be loaded any more
        conf = None

        @property
        def consumed_asset_events(self):
            raise RuntimeError("Parent instance is not bound to a Session")

    broken = {**context([]), "dag_run": DetachedRun()}
    assert dead_letter("fraud_detection", broken).inputs == {}  # unreadable: the letter is still written
