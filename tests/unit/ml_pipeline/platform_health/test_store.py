"""The platform_health time series: transitions decide what is announced, a retried task records once."""

import datetime as dt

import pytest

from ml_pipeline.platform_health.store import HealthFinding, PlatformHealthStore, transition


@pytest.fixture
def store(tmp_path):
    health = PlatformHealthStore(f"sqlite:///{tmp_path}/health.db")
    health.create_schema()
    return health


def finding(status: str, subject: str = "ml_training_fraud", check: str = "latest_run") -> HealthFinding:
    return HealthFinding(check=check, subject=subject, status=status, message=f"{subject} {status}",
                         model="fraud", data={"runs_24h": 3})


@pytest.mark.parametrize(("before", "now", "expected"), [
    (None, "ok", None), (None, "alert", "started"), ("ok", "warn", "started"), ("warn", "alert", "escalated"),
    ("alert", "warn", None), ("alert", "alert", None), ("alert", "ok", "recovered"), ("warn", "ok", "recovered")])
def test_transitions(before, now, expected):
    assert transition(before, now) == expected


def test_a_lasting_problem_is_announced_when_it_starts_and_when_it_clears_only(store):
    runs = ["ok", "alert", "alert", "alert", "ok", "ok"]
    recorded = [store.record([finding(status)], run_id=f"run-{i}")[0] for i, status in enumerate(runs)]
    assert [f.transition for f in recorded] == [None, "started", None, None, "recovered", None]
    assert [f.message for f in store.transitions("run-1")] == ["ml_training_fraud alert"]
    assert store.transitions("run-2") == []
    assert recorded[1].data == {"runs_24h": 3} and recorded[1].checked_at is not None


def test_subjects_and_checks_are_judged_apart(store):
    store.record([finding("alert", "a"), finding("ok", "b"), finding("alert", "a", check="stuck_tasks")], "run-1")
    second = store.record([finding("alert", "a"), finding("alert", "b"), finding("ok", "a", check="stuck_tasks")],
                          "run-2")
    assert {(f.check, f.subject): f.transition for f in second} == {
        ("latest_run", "a"): None, ("latest_run", "b"): "started", ("stuck_tasks", "a"): "recovered"}
    assert {(f.subject, f.status) for f in store.latest() if f.check == "latest_run"} == {("a", "alert"),
                                                                                           ("b", "alert")}


def test_a_retried_task_records_its_run_once(store):
    first = store.record([finding("alert")], run_id="run-1")
    again = store.record([finding("alert"), finding("ok", "other")], run_id="run-1")
    assert [f.id for f in again] == [f.id for f in first]
    assert len(store.history()) == 1


def test_history_filters_and_prune(store):
    store.record([finding("ok", "a"), finding("ok", "b")], "run-1")
    assert [f.subject for f in store.history(subject="b")] == ["b"]
    assert store.history(since=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)) == []
    assert store.prune(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 2
    assert store.latest() == []


def test_a_figure_that_cannot_be_judged_keeps_the_previous_status_instead_of_recovering(store):
    store.record([finding("alert", check="run_failures")], "run-1")
    unjudged = HealthFinding(check="run_failures", subject="ml_training_fraud", status="ok", model="fraud",
                             message="1 run in 24 h", data={"judged": False})
    [kept] = store.record([unjudged], "run-2")
    assert (kept.status, kept.transition) == ("alert", None) and kept.message.endswith("still alert from before")
    [judged] = store.record([HealthFinding(check="run_failures", subject="ml_training_fraud", status="ok",
                                           message="0 of 5 failed", data={"judged": True})], "run-3")
    assert (judged.status, judged.transition) == ("ok", "recovered")


def test_a_problem_whose_subject_is_no_longer_measured_is_closed(store):
    store.record([finding("alert", "old-api", check="endpoint"), finding("ok", "fraud-api", check="endpoint")],
                 "run-1")
    second = {f.subject: f for f in store.record([finding("ok", "fraud-api", check="endpoint")], "run-2")}
    assert second["old-api"].status == "ok" and second["old-api"].transition == "recovered"
    assert second["old-api"].message.startswith("old-api: no longer measured (was alert")
    assert "fraud-api" in second and second["fraud-api"].transition is None
    assert [f.subject for f in store.record([finding("ok", "fraud-api", check="endpoint")], "run-3")] == ["fraud-api"]


def test_an_endpoint_alert_is_not_recovered_by_a_check_mlflow_could_not_answer(store):
    """Serving v2 while v3 is champion alerts; the next check, with MLflow down, cannot say which is champion:
    the alert stays (it was announced as recovered: 'no champion yet'); a down endpoint still alerts."""
    from ml_pipeline.platform_health import work

    stale = work.judge_endpoint("fraud-api", "fraud", "http://x", {"version": "2"}, None, "3")
    store.record([stale], "run-1")
    unknown = work.judge_endpoint("fraud-api", "fraud", "http://x", {"version": "2"}, None, work.CHAMPION_UNKNOWN)
    assert unknown.data["judged"] is False and "MLflow did not say which version is champion" in unknown.message
    [kept] = store.record([unknown], "run-2")
    assert (kept.status, kept.transition) == ("alert", None)
    down = work.judge_endpoint("fraud-api", "fraud", "http://x", None, "ConnectError: refused", work.CHAMPION_UNKNOWN)
    assert down.status == "alert" and "does not answer" in down.message and down.data["champion_version"] is None
