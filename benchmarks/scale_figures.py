"""The figures of ``make bench-scale`` (``scale.py``): latencies and throughput of a burst of runs, read back from
Airflow's REST API; the median of several trials; the README's table."""

from __future__ import annotations

import datetime as dt

from feature_store import percentiles


def seconds(later: str | None, earlier: str | None) -> float | None:
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds() \
        if later and earlier else None


def summarize(client, keys: list[tuple[str, str]], states: dict, chain: tuple[str, ...], released: str) -> dict:
    """Latencies of these runs, their success and throughput. A run waits from ``released`` (when its paused DAG
    was unpaused) or its queueing, the later. A hand-off into ``train_model`` waits for a pool slot by design: it
    is reported apart (``pool_wait``), not as scheduling latency."""
    first_running, first_queued, handoff_running, handoff_queued = [], [], [], []
    pool_wait, ends, queued, run_s = [], [], [], []
    for dag_id, run_id in keys:
        run = client.run(dag_id, run_id)
        tis = {ti["task_id"]: ti for ti in client.task_instances(dag_id, run_id)}
        tasks = [tis.get(name) for name in chain]
        ready = max(run["queued_at"], released, key=dt.datetime.fromisoformat)
        queued.append(ready)
        run_s.append(seconds(run["end_date"], ready))
        if tasks[0] and tasks[0]["start_date"]:
            first_running.append(seconds(tasks[0]["start_date"], ready))
            first_queued.append(seconds(tasks[0]["queued_when"], ready))
        for up, down in zip(tasks, tasks[1:], strict=False):
            if up and down and up["end_date"] and down["start_date"]:
                if down["task_id"] == "train_model":
                    pool_wait.append(seconds(down["start_date"], up["end_date"]))
                    continue
                handoff_running.append(seconds(down["start_date"], up["end_date"]))
                handoff_queued.append(seconds(down["queued_when"], up["end_date"]))
        ends += [ti["end_date"] for ti in tasks if ti and ti["end_date"] and ti["state"] == "success"]
    span = seconds(max(ends, key=dt.datetime.fromisoformat), min(queued, key=dt.datetime.fromisoformat)) \
        if ends else None
    succeeded = sum(1 for key in keys if states.get(key) == "success")
    figures = {"runs": len(keys), "succeeded": succeeded, "success_rate": round(succeeded / len(keys), 3),
               "unfinished": sum(1 for key in keys if key not in states),
               "tasks_per_s": round(len(ends) / span, 2) if span else None,
               "run_queued_to_first_task_queued": _p(first_queued),
               "run_queued_to_first_task_running": _p(first_running),
               "upstream_success_to_downstream_queued": _p(handoff_queued),
               "upstream_success_to_downstream_running": _p(handoff_running),
               "run_queued_to_end": _p(run_s)}
    if pool_wait:
        figures["pool_wait_before_train_model"] = _p(pool_wait)
    return figures


def median_trial(measured: list[dict]) -> dict:
    """The trial with the median hand-off → running p95, with every trial's three headline figures beside it."""
    def handoff(figures: dict) -> float:
        return figures["probe"]["upstream_success_to_downstream_running"].get("p95_s") or float("inf")

    ranked = sorted(measured, key=handoff)
    median = ranked[(len(ranked) - 1) // 2]
    if len(measured) == 1:
        return median
    return {**median, "trials": [headline(f) for f in measured]}


def headline(figures: dict) -> dict:
    """A trial's three headline figures, and how many of its runs succeeded."""
    probe = figures["probe"]
    return {"tasks_per_s": probe["tasks_per_s"],
            "handoff_to_running_p95_s": probe["upstream_success_to_downstream_running"].get("p95_s"),
            "first_task_running_p95_s": probe["run_queued_to_first_task_running"].get("p95_s"),
            "succeeded": probe["succeeded"]}


def trials_of(figures: dict) -> list[dict]:
    """Each trial's headline figures, in the order measured (a single-trial profile: its one trial)."""
    return figures.get("trials") or [headline(figures)]


BASELINE = "bare-standalone"  # what a user who picks plain Airflow runs: every platform profile is judged against it
HANDOFF_GOAL_S = 2.0  # issue #21: hand-off → running p95 at 50 runs at once
# each headline figure: which way is better, and how a verdict line names it
HEADLINES = (("tasks_per_s", "higher", "tasks/s", ""), ("first_task_running_p95_s", "lower", "first task p95", " s"),
             ("handoff_to_running_p95_s", "lower", "hand-off p95", " s"))


def against_bare(results: dict) -> dict:
    """Every platform profile measured in the same run as ``BASELINE``, figure by figure: ahead at the median trial
    or not, and in how many trials, each paired with the baseline's trial of the same round (interleaved)."""
    bare = results["profiles"].get(BASELINE)
    verdicts: dict[str, dict] = {}
    if bare is None:
        return {"baseline": BASELINE, "run": None, "handoff_goal_s": HANDOFF_GOAL_S, "profiles": verdicts}
    bare_median, bare_trials = headline(bare), trials_of(bare)
    for name, figures in results["profiles"].items():
        if name.startswith("bare") or figures.get("run") != bare.get("run") or "probe" not in figures:
            continue
        median, trials, verdict = headline(figures), trials_of(figures), {}
        for key, better, _, _ in HEADLINES:
            pairs = [(m[key], t[key]) for m, t in zip(trials, bare_trials, strict=False)
                     if m[key] is not None and t[key] is not None]
            verdict[key] = {"platform": median[key], "bare": bare_median[key],
                            "ahead_at_median": _ahead(median[key], bare_median[key], better),
                            "trials_ahead": sum(_ahead(m, t, better) for m, t in pairs), "trials": len(pairs)}
        verdict["handoff_p95_within_goal"] = (median["handoff_to_running_p95_s"] or float("inf")) <= HANDOFF_GOAL_S
        verdict["every_run_succeeded"] = all(t["succeeded"] == figures["probe"]["runs"] for t in trials)
        verdicts[name] = verdict
    return {"baseline": BASELINE, "run": bare.get("run"), "handoff_goal_s": HANDOFF_GOAL_S, "profiles": verdicts}


def _ahead(mine: float | None, theirs: float | None, better: str) -> bool:
    if mine is None or theirs is None:
        return False
    return mine > theirs if better == "higher" else mine < theirs


def verdict_lines(verdicts: dict) -> list[str]:
    """One line per platform profile: where it stands against bare Airflow of the same run."""
    lines = []
    for name, verdict in verdicts["profiles"].items():
        parts = []
        for key, _, label, unit in HEADLINES:
            v = verdict[key]
            parts.append(f"{label} {v['platform']}{unit} against {v['bare']}{unit} "
                         f"({'ahead' if v['ahead_at_median'] else 'not ahead'} at the median, "
                         f"ahead in {v['trials_ahead']}/{v['trials']} trials)")
        goal = "met" if verdict["handoff_p95_within_goal"] else "not met"
        lines.append(f"{name} against {verdicts['baseline']} (run {verdicts['run']}): " + "; ".join(parts)
                     + f"; hand-off p95 ≤ {verdicts['handoff_goal_s']:g} s {goal}"
                     + ("" if verdict["every_run_succeeded"] else "; NOT every run succeeded"))
    return lines


LOOP = "airflow_scheduler_scheduler_loop_duration_seconds"  # Airflow's scheduler.scheduler_loop_duration, bridged


def loop_totals(exposition: str) -> tuple[float, float]:
    """The scheduler loops timed so far and their seconds in all, from the metrics exporter's ``/metrics`` text."""
    found = {line.split("{")[0].split(" ")[0]: float(line.rsplit(" ", 1)[1]) for line in exposition.splitlines()
             if line.startswith((f"{LOOP}_count", f"{LOOP}_sum"))}
    return found.get(f"{LOOP}_count", 0.0), found.get(f"{LOOP}_sum", 0.0)


def _p(samples: list[float]) -> dict:
    values = percentiles([s for s in samples if s is not None])
    return {k.replace("_ms", "_s"): round(v / 1000, 2) if k.endswith("_ms") else v for k, v in values.items()}


LABELS = {"local": "LocalExecutor", "celery": "CeleryExecutor (1 worker)", "bare": "bare `airflow standalone`",
          "bare-our-dags": "bare `airflow standalone`, our DAG folder"}


def table(results: dict) -> str:
    """The README's markdown table of a results file."""
    lines = ["| profile | measured | runs | runs ok | tasks/s | run queued → first task running p95 | "
             "hand-off → queued p95 | hand-off → running p50 / p95 / p99 | run queued → end p95 | memory used peak | "
             "CPU s in the burst: machine (task processes, scheduler, API server) |", "|" + "---|" * 11]
    for name, figures in results["profiles"].items():
        burst = figures.get("burst_cpu_s", {})
        cpu_s = f"{burst.get('machine', '—')} (" + ", ".join(
            str(burst.get(c, "—")) for c in ("task-processes", "scheduler", "api-server")) + ")"
        for part in ("probe", "pipelines"):
            if part not in figures:
                continue
            f = figures[part]
            what = {"probe": "probe runs", "pipelines": "20 training pipelines"}[part] if "pipelines" in figures \
                else ""
            label = f"{LABELS[figures['executor']]}, `{name}`" + (f" — {what}" if what else "")
            first, queued = f["run_queued_to_first_task_running"], f["upstream_success_to_downstream_queued"]
            running, end = f["upstream_success_to_downstream_running"], f["run_queued_to_end"]
            when = figures.get("run", "").replace("T", " ").removesuffix("Z")
            lines.append(f"| {label} | {when} | {f['runs']} | "
                         f"{f['succeeded']}/{f['runs']} | {f['tasks_per_s']} | "
                         f"{first.get('p95_s')} s | {queued.get('p95_s')} s | {running.get('p50_s')} / "
                         f"{running.get('p95_s')} / {running.get('p99_s')} s | {end.get('p95_s')} s | "
                         f"{figures['memory_used_gb']['peak']} GB | {cpu_s} |")
    return "\n".join(lines)
