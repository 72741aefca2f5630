"""``make bench-scale`` keeps the median of its interleaved trials, says what each trial gave, and counts a run's
wait from its release."""

import sys

from tests.conftest import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "benchmarks"))
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from scale_figures import against_bare, loop_totals, median_trial, summarize, verdict_lines  # noqa: E402

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


class Recorded:
    """What Airflow's REST API answered for two runs of the probe (its ``run`` and ``task_instances`` calls)."""

    def __init__(self, runs: dict[str, tuple[str, str]], tasks: dict[str, list[tuple[str, str, str, str]]]):
        self.runs, self.tasks = runs, tasks

    def run(self, dag_id: str, run_id: str) -> dict:
        queued_at, end_date = self.runs[run_id]
        return {"queued_at": queued_at, "end_date": end_date}

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return [{"task_id": task, "queued_when": queued, "start_date": start, "end_date": end, "state": "success"}
                for task, queued, start, end in self.tasks[run_id]]


def at(second: float) -> str:
    return f"2026-12-04T10:00:{second:06.3f}+00:00"


def test_a_run_queued_before_its_release_waits_from_the_release_and_throughput_counts_from_it_too():
    """Run a was queued at 0 s while paused, run b at 12 s after the release at 10 s: a's first task, running at
    11 s, waited 1 s (not 11), b's waited 1 s from its own queueing; six tasks from 10 s to 16 s: 1 task/s."""
    client = Recorded(
        runs={"a": (at(0), at(14)), "b": (at(12), at(16))},
        tasks={"a": [("first", at(10.5), at(11), at(12)), ("second", at(12.5), at(13), at(13.5)),
                     ("third", at(13.6), at(13.8), at(14))],
               "b": [("first", at(12.5), at(13), at(14)), ("second", at(14.2), at(14.5), at(15)),
                     ("third", at(15.2), at(15.5), at(16))]})
    keys = [("probe", "a"), ("probe", "b")]
    figures = summarize(client, keys, dict.fromkeys(keys, "success"), ("first", "second", "third"), at(10))
    assert figures["run_queued_to_first_task_running"]["p50_s"] == 1.0
    assert figures["run_queued_to_end"]["samples"] == 2 and figures["run_queued_to_end"]["p95_s"] <= 4.0
    assert figures["tasks_per_s"] == 1.0 and figures["succeeded"] == 2
    assert figures["upstream_success_to_downstream_running"]["samples"] == 4


def test_the_task_processes_cpu_counts_the_tasks_each_worker_forked_and_reaped():
    """An executor's worker (a child) runs a task process (its child) that burns 0.4 s of CPU and exits: the figure
    counts it through the worker's ``children_*`` times."""
    import subprocess
    import textwrap
    import time

    import psutil
    from bare_airflow import task_processes_cpu

    task = "import time; t = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    worker = textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.run([sys.executable, "-c", {task!r}], check=True)
        print("reaped", flush=True)
        time.sleep(30)
    """)
    executor = subprocess.Popen([sys.executable, "-c", f"import subprocess, sys\nsubprocess.run([sys.executable, "
                                 f"'-c', {worker!r}])"], stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not psutil.Process(executor.pid).children():
            time.sleep(0.05)
        worker_process = psutil.Process(executor.pid).children()[0]
        assert executor.stdout.readline().strip() == "reaped"
        assert task_processes_cpu(psutil.Process(executor.pid)) >= 0.4
        assert task_processes_cpu(worker_process) == 0.0  # a process's own CPU is not counted: only its children's
    finally:
        for process in psutil.Process(executor.pid).children(recursive=True):
            process.kill()
        executor.kill()
        executor.wait()


def profile(run: str, trials: list[tuple[float, float, float]], executor: str = "local", succeeded: int = 50) -> dict:
    """A profile of a results file: its median trial's probe figures and every trial's (tasks/s, first, hand-off)."""
    median = sorted(trials, key=lambda t: t[2])[(len(trials) - 1) // 2]
    return {"run": run, "executor": executor,
            "probe": {"runs": 50, "succeeded": succeeded, "tasks_per_s": median[0],
                      "run_queued_to_first_task_running": {"p95_s": median[1]},
                      "upstream_success_to_downstream_running": {"p95_s": median[2]}},
            "trials": [{"tasks_per_s": t, "first_task_running_p95_s": f, "handoff_to_running_p95_s": h,
                        "succeeded": succeeded} for t, f, h in trials]}


def test_each_platform_profile_of_the_same_run_is_judged_against_bare_airflow_trial_by_trial():
    run = "2026-12-05T20:21Z"
    results = {"profiles": {
        "bare-standalone": profile(run, [(11.7, 5.0, 2.9), (11.0, 5.2, 3.4), (10.3, 6.4, 3.5)], "bare"),
        "local": profile(run, [(15.9, 2.9, 2.5), (15.7, 3.2, 2.4), (13.7, 3.7, 2.7)]),
        "celery": profile(run, [(13.7, 3.6, 3.1), (14.2, 3.0, 3.2), (13.7, 3.3, 2.6)], "celery"),
        "local-fast": profile(run, [(25.0, 1.0, 1.9)]),
        "celery-concurrency-32": profile("2026-12-05T17:52Z", [(1.0, 9.0, 9.0)], "celery"),  # another run
    }}
    verdicts = against_bare(results)
    assert (verdicts["baseline"], verdicts["run"]) == ("bare-standalone", run)
    assert set(verdicts["profiles"]) == {"local", "celery", "local-fast"}
    local, celery = verdicts["profiles"]["local"], verdicts["profiles"]["celery"]
    assert local["handoff_to_running_p95_s"] == {"platform": 2.5, "bare": 3.4, "ahead_at_median": True,
                                                 "trials_ahead": 3, "trials": 3}
    assert (celery["handoff_to_running_p95_s"]["ahead_at_median"],
            celery["handoff_to_running_p95_s"]["trials_ahead"]) == (True, 2)  # 3.1 s behind bare's first 2.9 s
    assert celery["tasks_per_s"]["trials_ahead"] == 3 and celery["first_task_running_p95_s"]["trials_ahead"] == 3
    assert not local["handoff_p95_within_goal"] and verdicts["profiles"]["local-fast"]["handoff_p95_within_goal"]
    assert verdicts["profiles"]["local-fast"]["tasks_per_s"]["trials"] == 1  # one trial: paired with bare's first
    lines = verdict_lines(verdicts)
    assert lines[1].startswith("celery against bare-standalone (run 2026-12-05T20:21Z): tasks/s 13.7 against 11.0")
    assert "hand-off p95 3.1 s against 3.4 s (ahead at the median, ahead in 2/3 trials)" in lines[1]
    assert lines[1].endswith("hand-off p95 ≤ 2 s not met")


def test_a_failed_run_is_said_and_without_bare_airflow_in_the_file_nothing_is_judged():
    run = "2026-12-05T20:21Z"
    results = {"profiles": {"bare-standalone": profile(run, [(10.0, 5.0, 3.0)], "bare"),
                            "local": profile(run, [(20.0, 2.0, 1.5)], succeeded=49)}}
    verdicts = against_bare(results)
    assert verdicts["profiles"]["local"]["every_run_succeeded"] is False
    assert verdict_lines(verdicts)[0].endswith("hand-off p95 ≤ 2 s met; NOT every run succeeded")
    assert against_bare({"profiles": {"local": results["profiles"]["local"]}})["profiles"] == {}
