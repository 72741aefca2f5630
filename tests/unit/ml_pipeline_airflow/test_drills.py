"""The drill DAG file builds every drill for the DAG processor, and only its own DAG in a task process."""

import pytest

from ml_pipeline_airflow.drills import ASSET_DRILL_URI, DRILLS, build_drill_dags, drill


def test_the_dag_processor_gets_every_drill(monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    dags = build_drill_dags()
    assert sorted(dags) == sorted(DRILLS) == ["platform_asset_drill", "platform_deadline_drill",
                                              "platform_failure_drill", "platform_scale_probe", "platform_stuck_drill"]
    # the asset drill runs on its asset's events, as a deployment on a registered version, and takes a version
    asset_drill = dags["platform_asset_drill"]
    assert [a.uri for a in asset_drill.timetable.asset_condition.objects] == [ASSET_DRILL_URI]
    assert "version" in asset_drill.params
    assert [t.task_id for t in dags["platform_scale_probe"].topological_sort()] == ["first", "second", "third"]


def test_a_task_process_builds_only_its_own_dag(monkeypatch):
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "platform_scale_probe")  # as when a probe task runs
    assert list(build_drill_dags()) == ["platform_scale_probe"]


def test_last_try_sleeps_fails_transiently_until_the_last_try_and_then_runs():
    params = {"mode": "last_try_sleeps", "sleep_seconds": 0}
    for try_number in (1, 2, 3):  # retries: 3, so tries 1-3 have a retry left
        with pytest.raises(ConnectionError, match=f"try {try_number}"):
            drill(params, try_number, last_try=False)
    assert drill(params, 4, last_try=True) == {"mode": "last_try_sleeps", "try_number": 4}
