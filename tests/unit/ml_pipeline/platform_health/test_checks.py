"""Judging runs, tasks, components, errors, dead letters and endpoints from what the REST API answers."""

import datetime as dt
from pathlib import Path

import pytest

from ml_pipeline.config import ConfigError
from ml_pipeline.platform_health import runs, work
from ml_pipeline.platform_health.runs import DagSubject
from ml_pipeline.platform_health.settings import HealthSettings, load_settings

NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SETTINGS = HealthSettings()
DAG = "ml_training_fraud"
SUBJECTS = {DAG: DagSubject(DAG, "fraud", "training", deadline_minutes=60)}


def iso(hours_ago: float) -> str:
    return (NOW - dt.timedelta(hours=hours_ago)).isoformat().replace("+00:00", "Z")


def run(i: int, state: str, ended_hours_ago: float, minutes: float = 10, dag_id: str = DAG) -> dict:
    end = ended_hours_ago
    start = end + minutes / 60
    return {"dag_id": dag_id, "dag_run_id": f"r{i}", "state": state, "queued_at": iso(start + 0.01),
            "start_date": iso(start), "end_date": iso(end)}


def by_check(findings):
    return {(f.check, f.subject): f for f in findings}


def test_a_failed_latest_run_alerts_and_a_later_success_clears_it():
    failing = by_check(runs.judge_runs([run(1, "success", 5), run(2, "failed", 1)], SUBJECTS, SETTINGS, NOW))
    assert failing[("latest_run", DAG)].status == "alert" and "r2 failed" in failing[("latest_run", DAG)].message
    fixed = by_check(runs.judge_runs([run(1, "failed", 5), run(2, "success", 1)], SUBJECTS, SETTINGS, NOW))
    assert fixed[("latest_run", DAG)].status == "ok"


def test_failure_rate_is_judged_over_24h_from_enough_runs():
    history = [run(i, "success", 2 + i) for i in range(18)] + [run(99, "failed", 30)]  # the failure is 30 h old
    assert by_check(runs.judge_runs(history, SUBJECTS, SETTINGS, NOW))[("run_failures", DAG)].status == "ok"
    history += [run(100, "failed", 1)]
    rate = by_check(runs.judge_runs(history, SUBJECTS, SETTINGS, NOW))[("run_failures", DAG)]
    assert rate.status == "alert" and rate.value == pytest.approx(1 / 19)
    assert rate.data["runs_24h"] == 19 and rate.data["success_rate_7d"] == pytest.approx(18 / 20)
    few = by_check(runs.judge_runs([run(1, "failed", 1), run(2, "success", 2)], SUBJECTS, SETTINGS, NOW))
    assert few[("run_failures", DAG)].status == "ok"  # two runs: the latest-run check speaks, not a rate


def test_a_duration_regression_against_the_week_warns():
    week = [run(i, "success", 30 + 10 * i, minutes=10) for i in range(10)]
    today = [run(100 + i, "success", 1 + i, minutes=30) for i in range(4)]
    slow = by_check(runs.judge_runs(week + today, SUBJECTS, SETTINGS, NOW))[("run_duration", DAG)]
    assert slow.status == "warn" and slow.value == pytest.approx(3.0, rel=0.01)
    usual = [run(100 + i, "success", 1 + i, minutes=11) for i in range(4)]
    assert by_check(runs.judge_runs(week + usual, SUBJECTS, SETTINGS, NOW))[("run_duration", DAG)].status == "ok"


def test_runs_that_trained_nothing_are_counted_but_not_timed():
    """A run that skipped training (a version already learned its inputs) takes seconds: timed, a week of them
    (feature updates of days a drift retraining already learned) makes the baseline seconds, every real run slow."""
    week = [run(i, "success", 30 + 40 * i, minutes=10) for i in range(3)]
    skipped_before = [run(50 + i, "success", 25 + 2 * i, minutes=0.2) for i in range(60)]
    today = [run(200 + i, "success", 1 + i, minutes=11) for i in range(3)]
    history = week + skipped_before + today
    timed_all = by_check(runs.judge_runs(history, SUBJECTS, SETTINGS, NOW))[("run_duration", DAG)]
    assert timed_all.status == "warn" and timed_all.value > 30  # 11 minutes against a p95 of 12 seconds
    idle = frozenset((DAG, f"r{50 + i}") for i in range(60)) | {("other_dag", "r200")}
    judged = by_check(runs.judge_runs(history, SUBJECTS, SETTINGS, NOW, idle))
    duration = judged[("run_duration", DAG)]
    assert duration.status == "ok" and duration.value == pytest.approx(1.1, rel=0.01)
    assert duration.data["baseline_durations"] == 3 and duration.data["trained_nothing_24h"] == 0
    assert judged[("run_failures", DAG)].data["runs_7d"] == 66  # still runs: the failure rate counts them
    today_idle = [run(300 + i, "success", 2 + i, minutes=0.1) for i in range(3)]
    few = by_check(runs.judge_runs(week + today_idle, SUBJECTS, SETTINGS, NOW,
                                   frozenset((DAG, f"r{300 + i}") for i in range(3))))[("run_duration", DAG)]
    assert few.data["durations_24h"] == 0 and "3 run(s) in 24 h trained nothing new and are not timed" in few.message


def test_sla_miss_rate_counts_late_and_still_running_runs():
    late = run(1, "success", 2, minutes=90)
    running = {**run(2, "running", 0, minutes=0), "end_date": None, "queued_at": iso(3)}
    on_time = [run(10 + i, "success", 4 + i, minutes=20) for i in range(2)]
    sla = by_check(runs.judge_runs([late, running, *on_time], SUBJECTS, SETTINGS, NOW))[("sla_misses", DAG)]
    assert sla.status == "alert" and sla.value == pytest.approx(0.5) and sla.data["missed_runs"] == ["r1", "r2"]
    fine = by_check(runs.judge_runs(on_time, SUBJECTS, SETTINGS, NOW))[("sla_misses", DAG)]
    assert fine.status == "ok"
    other = by_check(runs.judge_runs([run(1, "success", 1, dag_id="other")], SUBJECTS, SETTINGS, NOW))
    assert ("sla_misses", "other") not in other  # no deadline known: no SLA judged


def test_runs_queued_too_long_are_stuck():
    queued = {"dag_id": DAG, "dag_run_id": "q", "state": "queued", "queued_at": iso(2)}
    assert by_check(runs.judge_queued_runs([queued], SUBJECTS, SETTINGS, NOW))[("queued_runs", DAG)].value == 1
    fresh = {**queued, "queued_at": iso(0.2)}
    assert by_check(runs.judge_queued_runs([fresh], SUBJECTS, SETTINGS, NOW))[("queued_runs", DAG)].status == "ok"


def test_stuck_tasks_waiting_running_past_timeout_and_deferred():
    tis = [{"dag_id": DAG, "dag_run_id": "r", "task_id": "wait", "state": "scheduled", "scheduled_when": iso(1)},
           {"dag_id": DAG, "dag_run_id": "r", "task_id": "train", "state": "running", "start_date": iso(3)},
           {"dag_id": DAG, "dag_run_id": "r", "task_id": "watch", "state": "deferred", "start_date": iso(50),
            "trigger": {"created_date": iso(49)}},
           {"dag_id": DAG, "dag_run_id": "r", "task_id": "fresh", "state": "queued", "queued_when": iso(0.1)}]
    finding = by_check(work.judge_tasks(tis, {(DAG, "train"): 7200.0}, SUBJECTS, SETTINGS, NOW))[("stuck_tasks", DAG)]
    assert finding.status == "alert" and [t["task_id"] for t in finding.data["tasks"]] == ["wait", "train", "watch"]
    assert "past its execution_timeout of 2.0 h" in finding.data["tasks"][1]["why"]
    no_timeout = work.judge_tasks(tis[1:2], {}, SUBJECTS, SETTINGS, NOW)
    assert no_timeout[0].status == "ok"


def test_components_import_errors_dead_letters_and_endpoints():
    health = {"metadatabase": {"status": "healthy"},
              "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": iso(0.001)},
              "triggerer": {"status": "unhealthy", "latest_triggerer_heartbeat": iso(1)},
              "dag_processor": {"status": None, "latest_dag_processor_heartbeat": None}}
    found = {f.subject: f.status for f in work.judge_components(health, None, SETTINGS, NOW)}
    assert found == {"api_server": "ok", "metadatabase": "ok", "scheduler": "ok", "triggerer": "alert",
                     "dag_processor": "alert"}
    down = work.judge_components(None, "connection refused", SETTINGS, NOW)
    assert down[0].status == "alert" and all(f.data == {"judged": False} for f in down[1:])  # not measured
    errors = work.judge_errors([{"filename": "/dags/x.py", "stack_trace": "boom"}], ["ml_training_bad"])
    assert [(f.check, f.status, f.value) for f in errors] == [("import_errors", "alert", 1.0),
                                                             ("config_errors", "warn", 1.0)]
    letters = {f.subject: f.status for f in work.judge_dead_letters({"fraud": 2, "platform": 1}, ["fraud", "rec"])}
    assert letters == {"fraud": "warn", "platform": "warn", "rec": "ok"}
    down = work.judge_endpoint("fraud-api", "fraud", "http://x", None, "ConnectError: refused", "3")
    stale = work.judge_endpoint("fraud-api", "fraud", "http://x", {"version": "2"}, None, "3")
    fine = work.judge_endpoint("fraud-api", "fraud", "http://x", {"version": "3"}, None, "3")
    assert (down.status, stale.status, fine.status) == ("alert", "alert", "ok")
    assert "champion is v3" in stale.message


def test_settings_file_errors_name_the_file_and_field(tmp_path: Path):
    assert load_settings(tmp_path / "none.yaml") == HealthSettings()
    path = tmp_path / "platform_health.yaml"
    path.write_text("failure_rate: 2\nwaiting_minutes: 5\n")
    with pytest.raises(ConfigError, match=r"platform_health.yaml: .*field 'failure_rate'"):
        load_settings(path)
    path.write_text("waiting_minutes: 5\n")
    assert load_settings(path).waiting_minutes == 5
    path.write_text("waiting_minutes: 5\nwaiting_minutes: 50\n")  # YAML alone would keep 50 silently
    with pytest.raises(ConfigError, match=r"platform_health.yaml: not valid YAML: line 2, column 1: "
                                          r"'waiting_minutes' is written twice \(first on line 1\)"):
        load_settings(path)
    path.write_text("falure_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"field 'falure_rate': no such setting \(did you mean 'failure_rate'\?\)"):
        load_settings(path)


def test_an_endpoint_up_without_a_model_is_fine_until_there_is_a_champion():
    empty = {"version": None}
    assert work.judge_endpoint("fraud-api", "fraud", "http://x", empty, "503: no model", None).status == "ok"
    serving_nothing = work.judge_endpoint("fraud-api", "fraud", "http://x", empty, "503: no model", "3")
    assert serving_nothing.status == "alert" and "serves no model" in serving_nothing.message


def test_the_one_screen_summary_lists_problems_worst_first():
    from ml_pipeline.platform_health.store import HealthFinding
    from ml_pipeline.platform_health.summary import describe

    def f(status, check, subject):
        return HealthFinding(check=check, subject=subject, status=status, message=f"{subject} is {status}",
                             checked_at=NOW - dt.timedelta(minutes=12))

    text = describe([f("ok", "latest_run", "a"), f("warn", "dead_letters", "fraud"), f("alert", "endpoint", "api")],
                    "http://x/ml-platform/", now=NOW)
    lines = text.splitlines()
    assert lines[0] == "platform health (checked 12 min ago): 1 alert, 1 warn, 1 ok"
    assert lines[1].split() == ["ALERT", "endpoint", "api", "is", "alert"] and "fraud is warn" in lines[2]
    assert lines[-1] == "dashboard: http://x/ml-platform/"
    assert "not measured yet" in describe([], "http://x/ml-platform/")


def test_an_endpoint_without_a_server_is_named_with_the_fix():
    found = work.judge_endpoint("rec-api", "rec", None, None, "connection 'serving_default' has no URL for "
                                "endpoint 'rec-api': restart the platform", None)
    assert found.status == "alert" and found.message.startswith("rec-api (rec) has no server: connection")


def test_a_dag_outside_the_configs_is_judged_while_it_has_runs_so_its_stuck_task_is_seen_to_clear():
    drill = {"dag_id": "drill", "dag_run_id": "r", "state": "running", "queued_at": iso(1), "start_date": iso(1)}
    subjects = runs.with_every_dag(SUBJECTS, [drill])
    assert subjects[DAG] == SUBJECTS[DAG] and subjects["drill"] == DagSubject("drill")
    stuck = [{"dag_id": "drill", "dag_run_id": "r", "task_id": "t", "state": "scheduled", "scheduled_when": iso(1)}]
    assert by_check(work.judge_tasks(stuck, {}, subjects, SETTINGS, NOW))[("stuck_tasks", "drill")].status == "alert"
    cleared = by_check(work.judge_tasks([], {}, subjects, SETTINGS, NOW))[("stuck_tasks", "drill")]
    assert cleared.status == "ok" and cleared.message == "drill: nothing stuck"


def test_a_task_scheduled_again_after_a_long_deferral_is_timed_from_then_not_from_its_old_queue_time():
    resumed = {"dag_id": DAG, "dag_run_id": "r", "task_id": "watch", "state": "scheduled",
               "queued_when": iso(2), "scheduled_when": iso(0.01)}
    assert work.stuck_reason(resumed, None, SETTINGS, NOW) is None
    queued = {**resumed, "state": "queued", "queued_when": iso(1)}
    assert work.stuck_reason(queued, None, SETTINGS, NOW).startswith("queued for 60 min")


def test_a_training_pool_airflow_lacks_or_with_no_slot_alerts_naming_the_fix():
    found = by_check(work.judge_pools({"training": 2, "gpu": 0, "big": -1},
                                      {"fraud": "training", "rec": "nightly", "vision": "gpu", "llm": "big"}))
    assert found[("training_pool", "fraud")].status == "ok" and found[("training_pool", "llm")].status == "ok"
    missing = found[("training_pool", "rec")]
    assert missing.status == "alert" and missing.model == "rec" and missing.message == (
        "rec trains in pool 'nightly', which Airflow does not have: its training task would wait for ever; create "
        "it (`airflow pools set nightly <slots> '<description>'`) or fix the model's training.pool")
    assert found[("training_pool", "vision")].message.startswith("vision trains in pool 'gpu', which has no slot")
    assert [f.value for f in found.values()] == [0.0, 0.0, 1.0, 1.0]  # fraud, llm, rec, vision: problems, not slots
