"""The chaos suite's cases per executor and its results file (``benchmarks/chaos/plan.py``, ``results.py``)."""

import pytest

from benchmarks.chaos import plan, results
from benchmarks.chaos.__main__ import STANDALONE
from benchmarks.chaos.cases import Case


def test_local_runs_every_case_but_the_celery_worker_and_skips_none():
    assert plan.cases_for("local") == [name for name in plan.ORDER if name != "celery_worker_killed"]
    assert plan.skipped_for("local") == {}


def test_celery_adds_the_worker_case_after_the_scheduler_and_skips_the_shared_database_with_its_reason():
    chosen = plan.cases_for("celery")
    assert "postgres_restarted" not in chosen
    assert chosen.index("celery_worker_killed") == chosen.index("scheduler_killed") + 1
    [(name, why)] = plan.skipped_for("celery").items()
    assert name == "postgres_restarted" and "shared PostgreSQL server" in why


@pytest.mark.parametrize("executor", plan.EXECUTORS)
def test_every_executor_starts_with_the_cases_that_make_the_champion_and_the_challenger(executor):
    # run_all runs these three itself, then the rest of cases_for in order
    assert plan.cases_for(executor)[:3] == ["mlflow_killed_during_training", "model_server_killed", "scheduler_killed"]


def test_only_refuses_a_case_that_does_not_run_on_the_executor_and_says_why():
    assert plan.unavailable(["celery_worker_killed", "scheduler_killed"], "local") == {
        "celery_worker_killed": "runs on celery only"}
    assert list(plan.unavailable(["postgres_restarted", "bad_data_corrupt_file"], "celery")) == ["postgres_restarted"]


def test_every_standalone_case_is_a_case_of_the_suite():
    assert set(STANDALONE) <= set(plan.ORDER)
    assert "celery_worker_killed" in STANDALONE


def test_the_local_figures_keep_their_file_and_celery_gets_its_own():
    assert plan.default_output("local").name == "chaos.json"
    assert plan.default_output("celery").name == "chaos_celery.json"


def test_an_unknown_executor_is_named_with_the_choices():
    with pytest.raises(ValueError, match="'kubernetes': expected one of local, celery"):
        plan.cases_for("kubernetes")


def case(name: str, met: bool) -> Case:
    done = Case(name, "a fault")
    done.goal("g", 1, "1", met)
    return done


def test_the_document_lists_skipped_cases_with_their_reasons_and_the_table_shows_them():
    settings = {"executor": "celery"}
    doc = results.document([case("a", True)], {"postgres_restarted": "not ours"}, settings, 12.34)
    assert doc["skipped"] == [{"name": "postgres_restarted", "reason": "not ours"}]
    assert doc["all_goals_met"] and doc["wall_s"] == 12.3 and doc["settings"] == settings
    assert "skipped" not in results.document([case("a", True)], {}, settings, 1)
    assert "postgres_restarted  -     -         not ours  skipped" in results.table([case("a", True)],
                                                                                  {"postgres_restarted": "not ours"})


def test_a_rerun_case_replaces_its_figures_and_keeps_the_others_and_the_skipped():
    recorded = results.document([case("a", True), case("b", False)], {"c": "why"}, {"executor": "celery"}, 100)
    rerun = results.document([case("b", True)], {}, {"executor": "celery"}, 10)
    new = results.merged(recorded, rerun)
    assert [c["name"] for c in new["cases"]] == ["a", "b"] and new["all_goals_met"]
    assert new["cases"][1]["measured_at"] == rerun["measured_at"] and "measured_at" not in new["cases"][0]
    assert new["skipped"] == recorded["skipped"] and new["wall_s"] == 100


def test_the_summary_names_the_missed_goals():
    assert results.summary([case("a", True), case("b", False)], 61) == "1 of 2 goals met; missed: b.g (61 s)"
