"""``make bench`` compares the medians of its interleaved runs: one slow training on either side moves nothing."""

import datetime as dt
import sys

import pytest

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from pipeline_overhead import GAP_PHASES, STEPS, compare, gaps_and_phases  # noqa: E402


def run(wall: float, train: float, gaps: float = 0.2, polled: float | None = None) -> dict:
    tasks = {step: 0.5 for step in STEPS} | {"train_model": train}
    shares = dict(zip(GAP_PHASES, (0.5, 0.2, 0.3), strict=True))  # each gap, split into its phases
    return {"wall_s": wall, "polled_s": polled or wall + 1, "task_s": tasks, "gaps_s": [gaps] * (len(STEPS) - 1),
            "gap_phases_s": {name: [gaps * share] * (len(STEPS) - 1) for name, share in shares.items()},
            "rows": 100, "champion_compared": False}


def test_the_medians_of_both_sides_are_compared_and_every_run_is_recorded():
    airflow = [run(12.0, 5.0), run(20.0, 13.0), run(11.0, 4.0, gaps=0.1)]
    in_process = [run(8.0, 5.5), run(7.0, 4.5), run(30.0, 25.0)]
    figures = compare(airflow, in_process)
    assert figures["repeats"] == 3
    assert figures["airflow_trigger_to_success_s"] == 12.0 and figures["in_process_wall_s"] == 8.0
    assert figures["airflow_over_in_process_ratio"] == 1.5 and figures["orchestration_overhead_s"] == 4.0
    assert figures["airflow_runs_s"] == [12.0, 20.0, 11.0] and figures["in_process_runs_s"] == [8.0, 7.0, 30.0]
    assert figures["airflow_trigger_to_success_seen_by_polling_s"] == 13.0
    assert figures["per_task"]["train_model"] == {"airflow_task_s": 5.0, "in_process_s": 5.5, "overhead_s": -0.5}
    assert figures["per_task"]["load_data"]["overhead_s"] == 0.0
    mean_gap = (0.2 * 14 + 0.1 * 7) / 21
    assert figures["mean_gap_between_tasks_s"] == round(mean_gap, 3)
    assert figures["mean_gap_phases_s"] == {"end_to_scheduled": round(mean_gap * 0.5, 3),
                                            "scheduled_to_queued": round(mean_gap * 0.2, 3),
                                            "queued_to_started": round(mean_gap * 0.3, 3)}
    assert not figures["airflow_scored_a_champion"]


def test_each_gap_is_split_where_it_went_from_the_task_instances_times():
    """Task instances as Airflow's REST API answers them: each step's task starts 0.1 s after the one before ends,
    having been scheduled 0.05 s and queued 0.07 s after that end."""
    t0 = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)

    def at(seconds: float) -> str:
        return (t0 + dt.timedelta(seconds=seconds)).isoformat()

    tis = {step: {"start_date": at(10 * i), "end_date": at(10 * i + 9.9), "scheduled_when": at(10 * i - 0.05),
                  "queued_when": at(10 * i - 0.03)} for i, step in enumerate(STEPS)}
    gaps, phases = gaps_and_phases(tis)
    gap_count = len(STEPS) - 1
    assert gaps == pytest.approx([0.1] * gap_count)
    assert phases == {"end_to_scheduled": pytest.approx([0.05] * gap_count),
                      "scheduled_to_queued": pytest.approx([0.02] * gap_count),
                      "queued_to_started": pytest.approx([0.03] * gap_count)}
