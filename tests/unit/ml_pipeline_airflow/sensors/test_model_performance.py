"""The post-promotion watch when its data cannot be read: a failure without a verdict, told to the channels."""

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline_airflow.notifications import announcements
from ml_pipeline_airflow.sensors.model_performance import ModelPerformanceSensor
from ml_pipeline_airflow.tasks.deployment import UNJUDGED_KEY


@pytest.fixture
def watch(monkeypatch):
    """The sensor, its pushed XComs and the notes it announced (built as the model's channels would get them)."""
    sent, pushed = [], {}
    monkeypatch.setattr(announcements, "announce_from_task",
                        lambda path, build, version: sent.append(build("fraud", "http://af/run", None)))
    sensor = ModelPerformanceSensor(task_id="watch_live_performance", config_path="c.yaml",
                                    evaluation={"challenger": {"version": "6"}}, poke_interval=1, timeout=60)
    context = {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))}
    return sensor, context, pushed, sent


def test_the_triggers_unreadable_event_fails_the_watch_with_no_verdict(watch):
    sensor, context, pushed, sent = watch
    with pytest.raises(AirflowFailException, match="v6 stays champion, not judged") as failed:
        sensor.execute_complete(context, {"status": "unreadable", "error": "PermissionError: key expired"})
    assert "(PermissionError: key expired)" in str(failed.value) and "clear watch_live_performance" in str(failed.value)
    assert pushed == {UNJUDGED_KEY: str(failed.value)}  # roll_back reads it and leaves the champion
    [note] = sent
    assert (note["model"], note["version"], note["icon"]) == ("fraud", "6", ":warning:")
    assert note["headline"] == "champion not judged: the watch cannot read its labelled data (no rollback)"
    assert note["lines"][0] == str(failed.value)


def test_a_partition_that_cannot_be_listed_fails_the_first_check_and_a_poke_at_once(watch, monkeypatch, tmp_path):
    sensor, context, pushed, sent = watch
    loop = tmp_path / "2026-11-23"
    loop.symlink_to(loop)
    monkeypatch.setattr(sensor, "_window", lambda: (["2026-11-23"], [loop.as_uri()]))
    with pytest.raises(AirflowFailException, match="Too many levels of symbolic links"):
        sensor.execute(context)  # no deferral: waiting cannot make it readable
    with pytest.raises(AirflowFailException, match="Too many levels of symbolic links"):
        sensor.poke(context)
    assert len(sent) == 2 and UNJUDGED_KEY in pushed
