"""How the cost of scheduling grows with load, with bare Airflow beside the platform: ``make bench-scale-growth``.

Two sweeps, each measured with its baseline in the same run:

- **runs at once**: 50, 100 and 200 runs of ``platform_scale_probe`` started together, on bare ``airflow standalone``
  (Airflow's defaults, only the probe DAG: ``bare_airflow.py``) and on the platform's LocalExecutor default — the
  probe, the figures and the code of ``make bench-scale`` (``scale.py``);
- **model configs**: 20, 100 and 500 model configs (``tests/support/fleet.py``'s click-through model, renamed):
  the time, CPU and peak memory of parsing the platform's DAG folder in one process (``DagBag``: what the
  dag-processor does on every pass, there one file per process), and the slowest file; beside it the same DAGs
  written the plain-Airflow way, one file per DAG with a chain of as many no-op tasks, parsed the same way. Then
  the platform started with those configs (LocalExecutor, every DAG paused): how long until every DAG was parsed,
  and over a minute of idling the scheduler's loop time, the scheduler's and dag-processor's CPU and memory.

Writes ``benchmarks/results/scale_growth.json`` and the plot ``docs/images/scale-growth.png``.

    .venv/bin/python benchmarks/scale_growth.py [--runs 50,100,200] [--configs 20,100,500 | ""] [--skip-runs]
        [--skip-scheduler]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO)]
import scale  # noqa: E402

RESULTS = REPO / "benchmarks" / "results" / "scale_growth.json"
PLOT = REPO / "docs" / "images" / "scale-growth.png"
RUN_PROFILES = ("bare-standalone", "local")
PARSE = '''
import json, resource, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
folder = Path(sys.argv[1])
files = {}
wall0, cpu0 = time.perf_counter(), time.process_time()
for path in sorted(folder.glob("*.py")):
    t = time.perf_counter()
    bag = DagBag(dag_folder=str(path), safe_mode=False)
    files[path.name] = {"s": round(time.perf_counter() - t, 3), "dags": len(bag.dags),
                        "tasks": {d: len(dag.tasks) for d, dag in bag.dags.items()}, "errors": len(bag.import_errors)}
print(json.dumps({"wall_s": round(time.perf_counter() - wall0, 2), "cpu_s": round(time.process_time() - cpu0, 2),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024), "files": files}))
'''
PLAIN_DAG = '''from airflow.sdk import DAG, task


@task
def step() -> None:
    """A no-op: what is measured is parsing."""


with DAG({dag_id!r}, schedule=None, catchup=False):
    steps = [step.override(task_id=f"step_{{i}}")() for i in range({tasks})]
    for upstream, downstream in zip(steps, steps[1:]):
        upstream >> downstream
'''


def parse(folder: Path, env: dict[str, str]) -> dict:
    """Parse every DAG file of ``folder`` in a new process, one after the other; its figures."""
    done = subprocess.run([sys.executable, "-c", PARSE, str(folder)], env=env, capture_output=True, text=True,
                          timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"parsing {folder} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_configs(count: int, home: Path) -> dict:
    """Parse the platform's DAG folder with ``count`` model configs, then the same DAGs written plainly."""
    from tests.support.fleet import write_fleet

    write_fleet(home / "model_configs", home / "lake", count)
    env = {name: value for name, value in os.environ.items() if not name.startswith(("AIRFLOW", "ML_", "MLFLOW"))}
    env.update({"AIRFLOW_HOME": str(home / "airflow"), "ML_PIPELINE_CONFIG_DIR": str(home / "model_configs"),
                "ML_LAKE_URI": (home / "lake").as_uri(), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'unused.db'}"})
    ours = parse(REPO / "airflow" / "dags", env)
    plain = home / "plain_dags"
    plain.mkdir()
    for figures in ours["files"].values():
        for dag_id, tasks in figures["tasks"].items():
            (plain / f"{dag_id}.py").write_text(PLAIN_DAG.format(dag_id=dag_id, tasks=tasks))
    bare = parse(plain, env)
    summary = {}
    for name, figures in (("platform", ours), ("plain", bare)):
        slowest = max(figures["files"].items(), key=lambda item: item[1]["s"])
        summary[name] = {"files": len(figures["files"]), "dags": sum(f["dags"] for f in figures["files"].values()),
                         "tasks": sum(sum(f["tasks"].values()) for f in figures["files"].values()),
                         "import_errors": sum(f["errors"] for f in figures["files"].values()),
                         "parse_wall_s": figures["wall_s"], "parse_cpu_s": figures["cpu_s"],
                         "peak_rss_mb": figures["peak_rss_mb"],
                         "slowest_file": {"name": slowest[0], "s": slowest[1]["s"]}}
    return summary


def measure_scheduler(count: int, dags: int, window_s: float = 60) -> dict:
    """The platform (LocalExecutor) with ``count`` model configs, every DAG parsed and paused: over ``window_s``
    seconds, the scheduler's loops (Airflow's ``scheduler.scheduler_loop_duration``), CPU and memory, and the
    dag-processor's; and how long until all ``dags`` were parsed after the start."""
    import time

    import psutil

    from ml_platform.state import read_state

    home = Path(tempfile.mkdtemp(prefix=f"bench-growth-scheduler-{count}-"))
    started_at = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    t0 = time.monotonic()
    with scale.platform("local", home, {}, count) as (layout, client, _):
        up_s = time.monotonic() - t0
        while (found := client.request("GET", "/dags", params={"limit": 1})["total_entries"]) < dags:
            if time.monotonic() - t0 > 1800:
                raise RuntimeError(f"{found} of {dags} DAGs parsed after 30 min")
            time.sleep(2)
        parsed_s = time.monotonic() - t0
        scale.settle()
        pids = {name: entry["pid"] for name, entry in read_state(layout.state_file)["components"].items()}
        processes = {name: psutil.Process(pids[name]) for name in ("scheduler", "dag-processor")}
        cpu_before = {name: sum(p.cpu_times()[:2]) for name, p in processes.items()}
        loops_before = scale.scheduler_loops(layout)
        time.sleep(window_s)
        count_, total = (a - b for a, b in zip(scale.scheduler_loops(layout), loops_before, strict=True))
        return {"configs": count, "dags": dags, "measured_at": started_at, "up_s": round(up_s, 1),
                "all_dags_parsed_s": round(parsed_s, 1), "window_s": window_s, "scheduler_loops": int(count_),
                "scheduler_loop_mean_s": round(total / count_, 4) if count_ else None,
                "cpu_s_per_min": {name: round((sum(p.cpu_times()[:2]) - cpu_before[name]) * 60 / window_s, 2)
                                  for name, p in processes.items()},
                "rss_mb": {name: round(p.memory_info().rss / 2**20) for name, p in processes.items()}}


def measure_runs(profile: str, runs: int) -> dict:
    """``make bench-scale``'s probe: ``runs`` runs at once on ``profile``; its probe figures and CPU."""
    executor, settings, _ = scale.PROFILES[profile]
    home = Path(tempfile.mkdtemp(prefix=f"bench-growth-{profile}-{runs}-"))
    started = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    figures = (scale.measure_bare(executor, runs, home) if executor.startswith("bare")
               else scale.measure(executor, runs, home, settings, 0))
    figures["measured_at"] = started
    probe = figures["probe"]
    return {"runs": runs, "measured_at": figures["measured_at"], "succeeded": probe["succeeded"],
            "tasks_per_s": probe["tasks_per_s"],
            "handoff_running_p95_s": probe["upstream_success_to_downstream_running"].get("p95_s"),
            "handoff_queued_p95_s": probe["upstream_success_to_downstream_queued"].get("p95_s"),
            "first_task_running_p95_s": probe["run_queued_to_first_task_running"].get("p95_s"),
            "run_end_p95_s": probe["run_queued_to_end"].get("p95_s"), "wall_s": figures["wall_s"],
            "memory_peak_gb": figures["memory_used_gb"]["peak"], "cpu_s": figures["cpu_s"],
            "triggers_refused": figures["triggers_refused"]["count"],
            "triggers_per_s": figures["triggers"]["per_s"]}


def plot(results: dict, path: Path) -> None:
    """Hand-off p95 and throughput against runs at once; parse time and memory against model configs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    labels = {"bare-standalone": "bare airflow standalone", "local": "platform (LocalExecutor)",
              "platform": "platform DAG files", "plain": "plain Airflow, a file per DAG"}
    for profile, points in results.get("runs", {}).items():
        xs = [p["runs"] for p in points]
        axes[0].plot(xs, [p["handoff_running_p95_s"] for p in points], "o-", label=labels[profile])
        axes[1].plot(xs, [p["tasks_per_s"] for p in points], "o-", label=labels[profile])
    axes[0].set(title="hand-off → running p95", xlabel="runs started at once", ylabel="seconds")
    axes[1].set(title="throughput", xlabel="runs started at once", ylabel="tasks / s")
    configs = results.get("configs", {})
    for kind in ("platform", "plain"):
        xs = [int(n) for n in configs]
        axes[2].plot(xs, [configs[n][kind]["parse_cpu_s"] for n in configs], "o-", label=labels[kind])
    axes[2].set(title="parsing every DAG file once (CPU)", xlabel="model configs", ylabel="CPU seconds")
    measured = [(int(n), c["scheduler"]) for n, c in configs.items() if "scheduler" in c]
    if measured:  # the platform started with these DAGs (paused), over a minute of idling
        xs = [n for n, _ in measured]
        axes[3].plot(xs, [m["scheduler_loop_mean_s"] * 1000 for _, m in measured], "o-", label="scheduler loop (ms)")
        for name in ("scheduler", "dag-processor"):
            axes[3].plot(xs, [m["cpu_s_per_min"][name] for _, m in measured], "s--", label=f"{name} CPU s / min")
    axes[3].set(title="idle platform with every model's DAGs", xlabel="model configs")
    for axis in axes:
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    fig.suptitle("How scheduling cost grows (2 cores; make bench-scale-growth)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", default="50,100,200")
    parser.add_argument("--configs", default="20,100,500", help='"" keeps those of the results file')
    parser.add_argument("--skip-runs", action="store_true", help="keep the runs sweep of the results file")
    parser.add_argument("--skip-scheduler", action="store_true",
                        help="only parse the configs, without starting a platform with them")
    # each point records when it was measured (``measured_at``): compare points of one sweep
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    out = Path(args.output)
    results = json.loads(out.read_text()) if out.exists() else {}
    results["machine"] = {"cpus": os.cpu_count()}
    scale.warm_bytecode()
    if args.configs:  # --configs "" keeps the configs sweep of the results file
        results["configs"] = {}
    for count in (int(n) for n in args.configs.split(",") if n):
        results["configs"][str(count)] = measure_configs(count, Path(tempfile.mkdtemp(prefix=f"growth-{count}-")))
        print(count, "configs", json.dumps(results["configs"][str(count)]), flush=True)
        if not args.skip_scheduler:  # the platform's scheduler and dag-processor with these DAGs, idle
            dags = results["configs"][str(count)]["platform"]["dags"]
            results["configs"][str(count)]["scheduler"] = measure_scheduler(count, dags)
            print(count, "configs, scheduler", json.dumps(results["configs"][str(count)]["scheduler"]), flush=True)
    if not args.skip_runs:  # the loads measured now replace their earlier points, the others stay
        sweep = results.setdefault("runs", {})
        for runs in map(int, args.runs.split(",")):
            for profile in RUN_PROFILES:  # alternated, so that a quieter quarter of an hour favours neither
                points = [p for p in sweep.get(profile, []) if p["runs"] != runs] + [measure_runs(profile, runs)]
                sweep[profile] = sorted(points, key=lambda p: p["runs"])
                print(profile, runs, json.dumps(sweep[profile][-1]), flush=True)
                out.write_text(json.dumps(results, indent=2) + "\n")
    out.write_text(json.dumps(results, indent=2) + "\n")
    picture = PLOT if out == RESULTS else out.with_suffix(".png")  # a trial's output keeps its plot beside it
    plot(results, picture)
    print(f"wrote {out} and {picture}")


if __name__ == "__main__":
    main()
