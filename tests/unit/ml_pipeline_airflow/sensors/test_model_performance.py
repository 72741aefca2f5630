"""The post-promotion watch when it cannot judge: a failure without a verdict, kept and told; an old champion's
watch is skipped."""

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ml_pipeline.pipelines import deployment
from ml_pipeline_airflow import runtime
from ml_pipeline_airflow.notifications import announcements
from ml_pipeline_airflow.sensors.model_performance import ModelPerformanceSensor
from ml_pipeline_airflow.tasks import deployment as deployment_tasks
from ml_pipeline_airflow.tasks.deployment import UNJUDGED_KEY


@pytest.fixture
def watch(monkeypatch):
    """The sensor watching v6 (champion now, unless ``champion`` says otherwise); what it pushed, recorded, sent."""
    sent, pushed, recorded, champion = [], {}, [], {"now": "6"}
    monkeypatch.setattr(announcements, "announce_from_task",
                        lambda path, build, version: sent.append(build("fraud", "http://af/run", None)))
    monkeypatch.setattr(deployment_tasks, "run_deployment_step",
                        lambda step, path, *args: recorded.append((step.__name__, args)))
    monkeypatch.setattr(runtime, "run_step", lambda step, path, **kw: champion["now"]
                        if step is deployment.champion_now else step(SimpleNamespace()))
    sensor = ModelPerformanceSensor(task_id="watch_live_performance", config_path="c.yaml",
                                    evaluation={"challenger": {"version": "6"}}, poke_interval=1, timeout=60)
    context = {"ti": SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value))}
    return SimpleNamespace(sensor=sensor, context=context, pushed=pushed, sent=sent, recorded=recorded,
                           champion=champion)


def test_the_triggers_unreadable_event_fails_the_watch_with_no_verdict(watch):
    with pytest.raises(AirflowFailException, match="v6 stays champion, not judged") as failed:
        watch.sensor.execute_complete(watch.context, {"status": "unreadable", "error": "PermissionError: expired"})
    reason = str(failed.value)
    assert reason.startswith("the watch cannot read the labelled data of its window (PermissionError: expired)")
    assert "v6 stays champion, not judged (watch_live_performance in this run). Fix the lake's access" in reason
    assert reason.endswith("then clear the watch with its downstream tasks to judge it")
    assert watch.pushed == {UNJUDGED_KEY: reason}  # roll_back reads it and leaves the champion
    assert watch.recorded == [("record_unjudged", ({"challenger": {"version": "6"}}, reason))]  # the history
    [note] = watch.sent
    assert (note["model"], note["version"], note["icon"]) == ("fraud", "6", ":warning:")
    assert note["headline"] == "champion not judged by the watch (no rollback)" and note["lines"][0] == reason


def test_a_partition_that_cannot_be_listed_fails_the_first_check_and_a_poke_at_once(watch, monkeypatch, tmp_path):
    loop = tmp_path / "2026-11-23"
    loop.symlink_to(loop)
    monkeypatch.setattr(watch.sensor, "_window", lambda: (["2026-11-23"], [loop.as_uri()]))
    with pytest.raises(AirflowFailException, match="Too many levels of symbolic links"):
        watch.sensor.execute(watch.context)  # no deferral: waiting cannot make it readable
    with pytest.raises(AirflowFailException, match="Too many levels of symbolic links"):
        watch.sensor.poke(watch.context)
    assert len(watch.sent) == 2 and UNJUDGED_KEY in watch.pushed


def test_a_window_that_cannot_be_scored_is_no_verdict_and_a_low_auc_is_one(watch, monkeypatch):
    def one_class(ctx, evaluation, days):
        raise deployment.WatchUnjudgedError("v6 cannot be judged live on 2026-11-23: one class only", "Widen it")

    monkeypatch.setattr(deployment, "live_performance", one_class)
    with pytest.raises(AirflowFailException,
                       match=r"one class only: v6 stays champion, not judged \(watch_live_performance in this run\)"
                             r"\. Widen it$"):
        watch.sensor._judge(watch.context, ["2026-11-23"])
    assert UNJUDGED_KEY in watch.pushed and "failure" not in watch.pushed

    def decayed(ctx, evaluation, days):
        raise deployment.DeploymentError("v6 underperforms live: auc 0.51 < 0.85")

    watch.pushed.clear()
    monkeypatch.setattr(deployment, "live_performance", decayed)
    with pytest.raises(deployment.DeploymentError):
        watch.sensor._judge(watch.context, ["2026-11-23"])
    assert watch.pushed == {"failure": "v6 underperforms live: auc 0.51 < 0.85"}  # a verdict: roll_back runs


def test_a_version_no_longer_champion_is_not_watched(watch, monkeypatch):
    """A watch cleared days later, after v7 was promoted: judging v6 now would roll v7 back to v6's predecessor."""
    watch.champion["now"] = "7"
    monkeypatch.setattr(watch.sensor, "_window", lambda: (["2026-11-23"], ["file:///nowhere/2026-11-23"]))
    with pytest.raises(AirflowSkipException, match=r"v6 is no longer champion \(now v7\): nothing to watch"):
        watch.sensor.execute(watch.context)
    with pytest.raises(AirflowSkipException, match="no longer champion"):
        watch.sensor.execute_complete(watch.context, {"status": "ready"})
    with pytest.raises(AirflowSkipException, match="no longer champion"):  # not "v6 stays champion": it is not
        watch.sensor.execute_complete(watch.context, {"status": "unreadable", "error": "PermissionError: expired"})
    assert watch.pushed == {} and watch.sent == []


def test_a_history_that_cannot_be_written_costs_neither_the_alert_nor_a_retry(watch, monkeypatch):
    def database_down(step, path, *args):
        raise deployment.DeploymentError("history database down")  # any failure of the record

    monkeypatch.setattr(deployment_tasks, "run_deployment_step", database_down)
    with pytest.raises(AirflowFailException, match="v6 stays champion, not judged"):  # not retried: no verdict
        watch.sensor.execute_complete(watch.context, {"status": "unreadable", "error": "PermissionError: expired"})
    assert len(watch.sent) == 1 and UNJUDGED_KEY in watch.pushed
