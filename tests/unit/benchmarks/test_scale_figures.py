"""``make bench-scale`` keeps the median of its interleaved trials, and says what each trial gave."""

import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from scale_figures import loop_totals, median_trial  # noqa: E402

from ml_platform.metrics.statsd_bridge import StatsdCollector  # noqa: E402


def trial(handoff_p95: float | None, tasks_per_s: float) -> dict:
    return {"probe": {"tasks_per_s": tasks_per_s, "succeeded": 50,
                      "upstream_success_to_downstream_running": {"p95_s": handoff_p95} if handoff_p95 else {},
                      "run_queued_to_first_task_running": {"p95_s": 2.0}}, "cpu_s": {}}


def test_the_median_trial_by_hand_off_p95_is_kept_with_every_trials_figures():
    measured = [trial(9.0, 4.0), trial(3.0, 7.0), trial(5.0, 6.0)]
    kept = median_trial(measured)
    assert kept["probe"]["tasks_per_s"] == 6.0  # p95 5.0 s: between 3.0 and 9.0
    assert [t["handoff_to_running_p95_s"] for t in kept["trials"]] == [9.0, 3.0, 5.0]  # in the order measured


def test_a_trial_without_hand_offs_ranks_last_and_a_single_trial_is_kept_as_it_is():
    assert median_trial([trial(None, 1.0), trial(4.0, 5.0)])["probe"]["tasks_per_s"] == 5.0
    only = trial(4.0, 5.0)
    assert median_trial([only]) == only


def test_scheduler_loops_are_read_from_the_exporters_exposition_of_airflows_statsd_timer():
    collector = StatsdCollector()
    registry = CollectorRegistry()
    registry.register(collector)
    assert loop_totals(generate_latest(registry).decode()) == (0.0, 0.0)  # no loop timed yet
    for line in ("airflow.scheduler.scheduler_loop_duration:250|ms", "airflow.scheduler.scheduler_loop_duration:750|ms",
                 "airflow.scheduler.critical_section_duration:40|ms"):
        collector.receive(line)
    assert loop_totals(generate_latest(registry).decode()) == (2.0, 1.0)  # two loops, 1 s in all
