"""``roll_back``'s decision: roll back after a failure, but never without a verdict, nor over a later champion."""

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from ml_pipeline.pipelines import deployment
from ml_pipeline_airflow.notifications import announcements
from ml_pipeline_airflow.tasks import deployment as tasks

EVALUATION = {"challenger": {"version": "6"}, "champion": {"version": "5"}}


@pytest.fixture
def rollback(monkeypatch):
    """``roll_back`` after v6's watch failed; ``xcoms``, ``moved`` (what ``moved_on`` says) set the scene."""
    xcoms = {("promote_challenger", "started"): "6", ("watch_live_performance", "failure"): "v6 underperforms"}
    steps, pages = [], []

    def xcom_pull(task_ids, key):
        if isinstance(task_ids, list):
            return [xcoms.get((task_id, key)) for task_id in task_ids]
        return xcoms.get((task_ids, key))

    ti = SimpleNamespace(xcom_pull=xcom_pull, try_number=1, max_tries=3)
    monkeypatch.setattr(tasks, "get_current_context", lambda: {"ti": ti})
    moved = {"why": None}

    def step(step, path, evaluation, *reason):
        if step is deployment.moved_on:
            return moved["why"]
        steps.append((step.__name__, *reason))
        return {"from": "6", "to": "5", "reason": reason[0], "verified": {}}

    monkeypatch.setattr(tasks, "run_deployment_step", step)
    monkeypatch.setattr(tasks, "_page", lambda *args: pages.append(args[1].__name__))
    monkeypatch.setattr(announcements, "announce_from_task", lambda *args: None)
    return SimpleNamespace(xcoms=xcoms, steps=steps, pages=pages, moved=moved)


def test_a_verdict_on_the_champion_rolls_it_back_and_pages(rollback):
    assert tasks.roll_back.function("c.yaml", EVALUATION)["to"] == "5"
    assert rollback.steps == [("roll_back", "v6 underperforms")] and rollback.pages == ["page_rollback"]


def test_no_verdict_no_rollback(rollback):
    rollback.xcoms[("watch_live_performance", tasks.UNJUDGED_KEY)] = "the watch cannot read …: v6 stays champion"
    with pytest.raises(AirflowSkipException, match="no verdict on the champion, so no rollback: the watch cannot"):
        tasks.roll_back.function("c.yaml", EVALUATION)
    assert rollback.steps == [] and rollback.pages == []


def test_a_champion_another_run_moved_is_left_alone(rollback):
    """v6's watch cleared days later, failed on its AUC; v7 is champion since: rolling back would serve v5."""
    rollback.moved["why"] = "the champion moved on since this deployment (now v7)"
    with pytest.raises(AirflowSkipException, match=r"moved on since this deployment \(now v7\): nothing to roll back"):
        tasks.roll_back.function("c.yaml", EVALUATION)
    assert rollback.steps == [] and rollback.pages == []


def test_a_history_that_cannot_be_read_for_good_pages(rollback, monkeypatch):
    def unreadable(*args):
        raise RuntimeError("relation deployment_events does not exist")

    monkeypatch.setattr(tasks, "run_deployment_step", unreadable)
    with pytest.raises(RuntimeError, match="deployment_events"):
        tasks.roll_back.function("c.yaml", EVALUATION)
    assert rollback.pages == ["page_rollback_failed"]
