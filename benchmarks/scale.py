"""Scheduling latency at 50+ concurrent DAG runs: the embedded LocalExecutor vs CeleryExecutor, tuned vs Airflow's
defaults, all in the same run.

For each profile, starts a platform instance on free ports (Celery: on the machine's PostgreSQL and Redis, with
databases of its own, dropped afterwards), queues ``--runs`` runs of ``platform_scale_probe`` (three trivial tasks
in a row: the scheduler and executor alone, no ML work) through the REST API while the DAG is paused, releases
them together by unpausing it, waits for all, and reads every task instance's times back from the API (a run is
waiting from its release):
- run queued → first task running;
- upstream success → downstream queued, and → downstream running (the hand-off, twice per run);
- how fast the API server accepts the triggers (one call after another), apart from the burst;
- success rate, throughput (task instances per second from the release to the last task's end), the
  CPU seconds each platform component used (what the platform itself costs on a machine it shares with its tasks),
  the task processes' apart (``task-processes``: the executor's workers with the tasks they ran), and, on the
  platform, the scheduler's loops in the burst (Airflow's own loop timer, read from the metrics
  exporter).

Profiles (``scale_profiles.py``): ``bare-standalone`` is plain ``airflow standalone`` with Airflow's defaults and a
DAG folder holding only the probe, nothing of ours running (``bare_airflow.py``): the anchor every other figure
stands beside; ``bare-standalone-our-dags`` is the same with our DAG folder, which splits what our DAG files cost
from what our other components cost. ``local`` and ``celery`` are the platform's defaults (docs/DESIGN.md,
"Scheduling at scale"); ``*-airflow-defaults`` put back Airflow's own value of every setting the platform tunes,
inside the platform; every other profile changes one thing (its name says which); ``*-pipelines`` start 20 real
training pipelines (``tests/support/fleet.py``) too.
The REST API is polled once per DAG every 2 s while the runs go (not once per run: the observer must not load the
API server the tasks use). Writes benchmarks/results/scale.json: the profiles measured now replace their earlier
figures, the others stay; each profile says which ``run`` (start time) it comes from. It ends with the verdict
(``against_bare``): each platform profile of the same run as ``bare-standalone`` against it, figure by figure.

    .venv/bin/python benchmarks/scale.py [--runs 50 --profiles bare-standalone,local,...] [--set NAME=VALUE …]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO)]
from scale_figures import against_bare, loop_totals, median_trial, summarize, table, verdict_lines  # noqa: E402
from scale_profiles import AIRFLOW_DEFAULTS, PROFILES  # noqa: E402

from tests.support.fleet import write_fleet  # noqa: E402  (the pool test's twenty models)
from tests.support.platforms import executor_env  # noqa: E402  (the e2e tests' Celery setup)

DAG_ID = "platform_scale_probe"
PIPELINE_CHAIN = ("load_data", "validate_data", "engineer_features", "train_model", "evaluate_model",
                  "register_model", "send_notification")
PROBE_CHAIN = ("first", "second", "third")
BURST = "queued while paused, released by one unpause"  # how the runs start together (run_at_once)
PIPELINE_SETTINGS = {"ML_PLATFORM_GPUS": "1", "ML_PLATFORM_TRAINING_SLOTS": "3"}


@contextlib.contextmanager
def platform(executor: str, home: Path, settings: dict[str, str], models: int = 0) -> Iterator[tuple]:
    """A platform on ``executor`` in ``home`` with ``settings`` (environment variables) and ``models`` small real
    models (``tests/support/fleet.py``), every DAG paused at creation, no health run: ``(layout, client, model
    DAG ids)``; stopped afterwards, and a profile's databases on the machine's PostgreSQL dropped."""
    from ml_platform.airflow_api import AirflowClient
    from ml_platform.layout import Layout
    from ml_platform.secrets import ensure_secrets

    layout = Layout.on_free_ports(home)
    (home / "models").mkdir(exist_ok=True)
    dag_ids = list(write_fleet(home / "models", layout.lake, models)) if models else []
    (home / "platform_health.yaml").write_text("schedule: null\n")  # no health run inside a measurement
    with executor_env(executor):  # Celery: the machine's PostgreSQL and Redis, databases of its own, dropped after
        env = {**os.environ, **layout.port_env(), "ML_PIPELINE_CONFIG_DIR": str(home / "models"),
               "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True", **settings}  # only the measured runs run
        cli = str(REPO / ".venv" / "bin" / "ml-platform")
        try:
            started = subprocess.run([cli, "up"], env=env, capture_output=True, text=True, timeout=900)
            if started.returncode != 0:
                raise RuntimeError(f"{executor} platform did not start: {started.stdout[-2000:]}"
                                   f"{started.stderr[-2000:]}")
            secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
            yield layout, AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"],
                                        timeout=60), dag_ids
        finally:
            subprocess.run([cli, "down"], env=env, capture_output=True, text=True, timeout=300)
            if prefix := settings.get("ML_PLATFORM_DATABASE_PREFIX"):  # a profile on the machine's PostgreSQL
                from ml_platform import database

                database.drop_databases(settings["ML_PLATFORM_DATABASE_URL"], prefix)


def measure(executor: str, runs: int, home: Path, settings: dict[str, str], pipelines: int = 0) -> dict:
    """Start a platform with ``executor`` and ``settings`` (environment variables); start ``pipelines`` training
    runs of small real models and ``runs - pipelines`` runs of the probe, all at once; return the figures."""
    settings = {**settings, **(PIPELINE_SETTINGS if pipelines else {})}
    with platform(executor, home, settings, pipelines) as (layout, client, models):
        return run_at_once(client, executor, runs, models, settings, lambda: component_cpu(layout),
                           lambda: scheduler_loops(layout))


def measure_bare(executor: str, runs: int, home: Path) -> dict:
    """The probe's runs on bare ``airflow standalone`` (``bare_airflow``): only the probe DAG, or our DAG folder."""
    import bare_airflow

    from ml_platform.airflow_api import AirflowClient
    from tests.support.platforms import SERVER, require_services

    require_services()
    with bare_airflow.standalone(home, SERVER, our_dags=executor == "bare-our-dags") as airflow:
        client = AirflowClient(airflow["url"], airflow["user"], airflow["password"], timeout=60)
        return run_at_once(client, executor, runs, [], "Airflow's defaults (airflow standalone)",
                           lambda: bare_airflow.component_cpu(airflow["pid"]))


def run_at_once(client, executor: str, runs: int, models: list[str], settings, cpu, loops=None) -> dict:
    """Queue the runs while their DAGs are paused, release them together by unpausing, wait for all, read their
    figures back (``cpu``: each component's CPU s by then; ``loops``: the scheduler's loops and their seconds by
    then, where the platform's StatsD exporter counts them).

    Queued first and released in one instant, every profile gets the same burst whatever its API server's speed:
    triggered one by one, bare Airflow's single API worker took 16 s to accept 50 runs, so its scheduler met them
    a few at a time. How fast each API server accepts the triggers is measured apart (``triggers``)."""
    import psutil

    from ml_pipeline_airflow.api_client import AirflowApiError

    dag_ids = [DAG_ID, *models]
    for dag_id in dag_ids:
        client.wait_for_dag(dag_id, timeout=300)
        client.request("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    settle()
    refused: list[str] = []  # a trigger or poll the API server answered with a 5xx, tried again as a user's would
    t0 = time.monotonic()
    started_runs = [(dag_id, trigger(client, dag_id, "2026-11-20T06:00:00Z", refused)) for dag_id in models]
    started_runs += [(DAG_ID, trigger(client, DAG_ID, None, refused)) for _ in range(runs - len(models))]
    triggered_s = time.monotonic() - t0  # one REST call a run, one after another, as a user's script would
    settled_s = settle()
    cpu_before, machine_before, loops_before = cpu(), psutil.cpu_times(), loops() if loops else None
    idle_used = psutil.virtual_memory().used
    peak_used = idle_used
    released = dt.datetime.now(dt.UTC).isoformat()  # before the unpause: its own call counts as latency
    t0 = time.monotonic()
    for dag_id in dag_ids:
        client.unpause(dag_id)
    deadline = time.monotonic() + 1800
    states: dict[tuple[str, str], str] = {}
    while time.monotonic() < deadline and len(states) < len(started_runs):
        time.sleep(2)
        try:
            states.update(finished_runs(client, {dag_id for dag_id, _ in started_runs}))
        except AirflowApiError as exc:  # an overloaded API server (bare's pool timed out once): ask again, noted
            if (exc.status or 0) < 500:
                raise
            refused.append(str(exc)[:300])
        peak_used = max(peak_used, psutil.virtual_memory().used)
    wall = time.monotonic() - t0
    figures = {"executor": executor, "wall_s": round(wall, 1), "settings": settings or "the platform's defaults",
               # the machine's memory in use (page cache aside): the platform started and idle, and at its peak
               "memory_used_gb": {"idle": round(idle_used / 2**30, 2), "peak": round(peak_used / 2**30, 2)},
               "probe": summarize(client, [k for k in started_runs if k[0] == DAG_ID], states, PROBE_CHAIN, released)}
    if models:
        figures["pipelines"] = summarize(client, [k for k in started_runs if k[0] != DAG_ID], states, PIPELINE_CHAIN,
                                         released)
    figures["cpu_s"] = cpu()
    # what each component and the whole machine (task processes included) used during the burst
    figures["burst_cpu_s"] = {name: round(used - cpu_before.get(name, 0), 1) for name, used in figures["cpu_s"].items()}
    machine_after = psutil.cpu_times()
    figures["burst_cpu_s"]["machine"] = round(sum(
        getattr(machine_after, f) - getattr(machine_before, f) for f in ("user", "system", "nice")), 1)
    if loops_before:  # the scheduler's loop (Airflow's scheduler.scheduler_loop_duration): how often it looked
        count, total = (after - before for after, before in zip(loops(), loops_before, strict=True))
        figures["scheduler_loop_in_burst"] = {"loops": int(count), "mean_s": round(total / count, 3) if count else None}
    figures["settled_s"] = settled_s
    figures["triggers_refused"] = {"count": len(refused), "first": refused[0] if refused else None}
    # the API server alone: ``runs`` triggers, one call after another, while nothing runs
    figures["triggers"] = {"count": len(started_runs), "seconds": round(triggered_s, 2),
                           "per_s": round(len(started_runs) / triggered_s, 1)}
    return figures


def settle(quiet_percent: float = 35, timeout_s: float = 180) -> float:
    """Wait until the machine's CPU is below ``quiet_percent`` over a 3-s window; return the seconds waited.

    A burst right after start competes with the start itself (the DAG processor's first pass over every DAG file,
    MLflow's and the API server's workers importing): a user's runs meet a platform that has been up a while.
    """
    import psutil

    started = time.monotonic()
    while psutil.cpu_percent(interval=3) > quiet_percent and time.monotonic() - started < timeout_s:
        pass
    return round(time.monotonic() - started, 1)


def warm_bytecode() -> None:
    """Compile the environment's and the checkout's Python files once, before any profile starts.

    uv installs without bytecode: in the first profile after ``make install`` every process compiled what it
    imported, and bare standalone, measured first, lost 9 of 50 runs to timed-out task starts (p95 28.6 s, against
    4.7 s in the next, warm run). Files already compiled are skipped.
    """
    import sysconfig

    for folder in (sysconfig.get_paths()["purelib"], str(REPO / "src"), str(REPO / "airflow")):
        subprocess.run([sys.executable, "-m", "compileall", "-q", "-j", "0", folder], capture_output=True,
                       timeout=1800)


def trigger(client, dag_id: str, logical_date: str | None, refused: list[str]) -> str:
    """Queue a run of ``dag_id`` (paused, it waits for the release); a 5xx answer is noted in ``refused`` and tried
    again (2 s apart, 5 times)."""
    from ml_pipeline_airflow.api_client import AirflowApiError

    for attempt in range(6):
        try:
            return client.request("POST", f"/dags/{dag_id}/dagRuns",
                                  json={"logical_date": logical_date, "conf": {}})["dag_run_id"]
        except AirflowApiError as exc:
            if (exc.status or 0) < 500 or attempt == 5:
                raise
            refused.append(str(exc)[:300])
            time.sleep(2)
    raise AssertionError("unreachable")


def finished_runs(client, dag_ids: set[str]) -> dict[tuple[str, str], str]:
    """The finished runs of ``dag_ids``: one REST call per DAG, not one per run (polling 50 runs one by one every
    2 s costs the API server — the component that serves the tasks' own API calls — more CPU than the tasks)."""
    done = {}
    for dag_id in dag_ids:
        offset = 0
        while True:  # pages of 100: Airflow's api.maximum_page_limit caps any larger limit at 100
            page = client.request("GET", f"/dags/{dag_id}/dagRuns", params={
                "state": ["success", "failed"], "limit": 100, "offset": offset, "order_by": "id"})["dag_runs"]
            done.update({(dag_id, run["dag_run_id"]): run["state"] for run in page})
            if len(page) < 100:
                break
            offset += len(page)
    return done


def scheduler_loops(layout) -> tuple[float, float]:
    """How many scheduler loops Airflow has timed, and their seconds in all, from the metrics exporter."""
    import urllib.request

    with urllib.request.urlopen(f"{layout.metrics_url}/metrics", timeout=10) as answer:
        return loop_totals(answer.read().decode())


def component_cpu(layout) -> dict[str, float]:
    """CPU seconds each long-running component has used, its worker processes included (API-server and MLflow
    workers) but not the task processes (the scheduler's LocalExecutor workers, a Celery worker's pool): what the
    platform costs beside the tasks, on a machine it shares with them. The task processes are counted apart,
    ``task-processes`` (``bare_airflow.task_processes_cpu``), so that a burst's CPU adds up."""
    import psutil
    from bare_airflow import task_processes_cpu

    from ml_platform.state import read_state

    used = {"task-processes": 0.0}
    for name, entry in read_state(layout.state_file)["components"].items():
        try:
            process = psutil.Process(entry["pid"])
            executor = name == "scheduler" or name.startswith("celery-worker")
            tree = [process] if executor else [process, *process.children(recursive=True)]
            used[name] = round(sum(p.cpu_times().user + p.cpu_times().system for p in tree), 1)
            if executor:
                used["task-processes"] = round(used["task-processes"] + task_processes_cpu(process), 1)
        except (psutil.NoSuchProcess, TypeError):
            continue
    return used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--profiles", default="bare-standalone,bare-standalone-our-dags,local-airflow-defaults,local,"
                                              "celery-airflow-defaults,celery,local-pipelines-no-preload,"
                                              "local-pipelines,celery-pipelines",
                        help=f"comma-separated, of: {', '.join(PROFILES)}")
    parser.add_argument("--trials", type=int, default=1,
                        help="measure each profile this many times, interleaved; keep the median trial")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for every profile (to try a setting)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "scale.json"))
    parser.add_argument("--table", action="store_true", help="print the README table of --output and stop")
    args = parser.parse_args()
    if args.table:
        written = json.loads(Path(args.output).read_text())
        print(table(written), *verdict_lines(against_bare(written)), sep="\n")
        return
    from ml_platform.components import SCHEDULER_TUNING

    if untracked := set(SCHEDULER_TUNING) - set(AIRFLOW_DEFAULTS):  # a new tuned setting needs its baseline value
        parser.error(f"AIRFLOW_DEFAULTS lacks Airflow's value of {', '.join(sorted(untracked))}")
    unknown = [name for name in args.profiles.split(",") if name not in PROFILES]
    if unknown:
        parser.error(f"unknown profile(s) {', '.join(unknown)}: choose from {', '.join(PROFILES)}")
    extra = dict(item.split("=", 1) for item in args.set)
    warm_bytecode()
    out = Path(args.output)
    # the profiles not measured now stay, each with the run it came from (compare figures of one run only), unless
    # they were measured another way (BURST): runs triggered one by one, before 2026-12-04, are in git's history
    earlier = json.loads(out.read_text()) if out.exists() else {}
    results = {"probe_dag": DAG_ID, "runs_at_once": args.runs, "machine": {"cpus": os.cpu_count()}, "burst": BURST,
               "profiles": {name: figures for name, figures in earlier.get("profiles", {}).items()
                            if name in PROFILES and earlier.get("burst") == BURST}}
    run = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    trials: dict[str, list[dict]] = {}
    for trial in range(args.trials):  # profiles interleaved: a slow minute of the machine hits each alike
        for name in args.profiles.split(","):
            executor, settings, pipelines = PROFILES[name]
            home = Path(tempfile.mkdtemp(prefix=f"bench-scale-{name}-"))
            figures = (measure_bare(executor, args.runs, home) if executor.startswith("bare")
                       else measure(executor, args.runs, home, {**settings, **extra}, pipelines))
            trials.setdefault(name, []).append(figures)
            print(name, f"trial {trial + 1}/{args.trials}", json.dumps(figures, indent=2), flush=True)
    for name, measured in trials.items():
        results["profiles"][name] = {"run": run, **median_trial(measured)}
    results["profiles"] = {name: results["profiles"][name] for name in PROFILES if name in results["profiles"]}
    results["against_bare"] = against_bare(results)  # the goals, judged in the same run
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results), *verdict_lines(results["against_bare"]), sep="\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
