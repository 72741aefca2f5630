"""The drill DAG file builds every drill for the DAG processor, and only its own DAG in a task process."""

from ml_pipeline_airflow.drills import DRILLS, build_drill_dags


def test_the_dag_processor_gets_every_drill(monkeypatch):
    monkeypatch.delenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", raising=False)
    dags = build_drill_dags()
    assert sorted(dags) == sorted(DRILLS) == ["platform_deadline_drill", "platform_failure_drill",
                                              "platform_scale_probe", "platform_stuck_drill"]
    assert [t.task_id for t in dags["platform_scale_probe"].topological_sort()] == ["first", "second", "third"]


def test_a_task_process_builds_only_its_own_dag(monkeypatch):
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "platform_scale_probe")  # as when a probe task runs
    assert list(build_drill_dags()) == ["platform_scale_probe"]
