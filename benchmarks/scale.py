"""Scheduling latency at 50+ concurrent DAG runs: the embedded LocalExecutor vs CeleryExecutor, tuned vs Airflow's
defaults, all in the same run.

For each profile, starts a platform instance on free ports (Celery: on the machine's PostgreSQL and Redis, with
databases of its own, dropped afterwards), triggers ``--runs`` runs of ``platform_scale_probe`` (three trivial tasks
in a row: the scheduler and executor alone, no ML work) through the REST API at once, waits for all, and reads
every task instance's times back from the API:
- run queued → first task running;
- upstream success → downstream queued, and → downstream running (the hand-off, twice per run);
- success rate, throughput (task instances per second from the first queued run to the last task's end), and the
  CPU seconds each platform component used (what the platform itself costs on a machine it shares with its tasks).

Profiles: ``local`` and ``celery`` are the platform's defaults (docs/DESIGN.md, "Scheduling at scale");
``*-untuned`` put back Airflow's values of every setting the platform tunes; ``celery-no-preload`` isolates the
workers' preloading. Writes benchmarks/results/scale.json.

    .venv/bin/python benchmarks/scale.py [--runs 50 --profiles local-untuned,local,celery-untuned,celery]
                                         [--set AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY=32 …]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from feature_store import percentiles  # noqa: E402

DAG_ID = "platform_scale_probe"
POSTGRES = os.environ.get("ML_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS = os.environ.get("ML_BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")


def seconds(later: str | None, earlier: str | None) -> float | None:
    if not later or not earlier:
        return None
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


PIPELINE_CHAIN = ("load_data", "validate_data", "engineer_features", "train_model", "evaluate_model",
                  "register_model", "send_notification")
PROBE_CHAIN = ("first", "second", "third")
PIPELINE_SETTINGS = {"ML_PLATFORM_GPUS": "1", "ML_PLATFORM_TRAINING_SLOTS": "3"}


def write_pipelines(home: Path, lake: Path, count: int) -> list[str]:
    """``count`` small click-through models on two days of impressions (1,500 rows a day), one in five with
    ``training.device: auto`` (the gpu pool: the platform is told it has one GPU), the others on CPUs; returns
    their training DAG ids."""
    import shutil

    import yaml

    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri

    folder = home / "models"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO / "config" / "data_validation_rules.yaml", home)
    base = yaml.safe_load((REPO / "config" / "model_configs" / "recommendation.yaml").read_text())
    for i in range(count):
        raw = {**base, "model_name": f"ctr_{i:02d}", "schedule": None,
               "data": {**base["data"], "lookback_days": 2},
               "training": {**base["training"], "device": "auto" if i % 5 == 0 else "cpu", "priority_weight": i + 1,
                            "hyperparameters": {**base["training"]["hyperparameters"], "n_estimators": 10}},
               "deployment": {k: v for k, v in base["deployment"].items() if k != "endpoint_name"}}
        (folder / f"ctr_{i:02d}.yaml").write_text(yaml.safe_dump(raw))
    generate_dataset(join_uri(lake.as_uri(), "impressions"), dt.date(2026, 11, 20), days=2, rows_per_day=1_500,
                     kind="impressions")
    return [f"ml_training_ctr_{i:02d}" for i in range(count)]


def measure(executor: str, runs: int, home: Path, settings: dict[str, str], pipelines: int = 0) -> dict:
    """Start a platform with ``executor`` and ``settings`` (environment variables); start ``pipelines`` training
    runs of small real models and ``runs - pipelines`` runs of the probe, all at once; return the figures."""
    from ml_platform.airflow_api import AirflowClient
    from ml_platform.layout import Layout
    from ml_platform.secrets import ensure_secrets

    layout = Layout.on_free_ports(home)
    (home / "models").mkdir(exist_ok=True)
    models = write_pipelines(home, layout.lake, pipelines) if pipelines else []
    settings = {**settings, **(PIPELINE_SETTINGS if pipelines else {})}
    env = {**os.environ, **layout.port_env(), "ML_PIPELINE_CONFIG_DIR": str(home / "models"), **settings}
    prefix = None
    if executor == "celery":
        import redis

        prefix = f"mlbench_{uuid.uuid4().hex[:8]}_"
        redis.Redis.from_url(REDIS).flushdb()
        env.update(ML_PLATFORM_EXECUTOR="celery", ML_PLATFORM_DATABASE_URL=POSTGRES, ML_PLATFORM_REDIS_URL=REDIS,
                   ML_PLATFORM_DATABASE_PREFIX=prefix)
    cli = str(REPO / ".venv" / "bin" / "ml-platform")
    try:
        started = subprocess.run([cli, "up"], env=env, capture_output=True, text=True, timeout=600)
        if started.returncode != 0:
            raise RuntimeError(f"{executor} platform did not start: {started.stdout[-2000:]}{started.stderr[-2000:]}")
        secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
        client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"], timeout=60)
        for dag_id in [DAG_ID, *models]:
            client.wait_for_dag(dag_id, timeout=300)
            client.unpause(dag_id)
        t0 = time.monotonic()
        started_runs = [(dag_id, client.trigger(dag_id, "2026-11-20T06:00:00Z")["dag_run_id"]) for dag_id in models]
        started_runs += [(DAG_ID, client.trigger(DAG_ID, None)["dag_run_id"]) for _ in range(runs - len(models))]
        deadline = time.monotonic() + 1800
        states: dict[tuple[str, str], str] = {}
        while time.monotonic() < deadline and len(states) < len(started_runs):
            for key in started_runs:
                if key not in states:
                    state = client.run(*key)["state"]
                    if state in ("success", "failed"):
                        states[key] = state
            time.sleep(2)
        wall = time.monotonic() - t0
        figures = {"executor": executor, "wall_s": round(wall, 1), "settings": settings or "the platform's defaults",
                   "probe": summarize(client, [k for k in started_runs if k[0] == DAG_ID], states, PROBE_CHAIN)}
        if models:
            figures["pipelines"] = summarize(client, [k for k in started_runs if k[0] != DAG_ID], states,
                                             PIPELINE_CHAIN)
        figures["cpu_s"] = component_cpu(layout)
        return figures
    finally:
        subprocess.run([cli, "down"], env=env, capture_output=True, text=True, timeout=300)
        if prefix:
            from ml_platform.database import drop_databases

            drop_databases(POSTGRES, prefix)


def component_cpu(layout) -> dict[str, float]:
    """CPU seconds each long-running component has used, its worker processes included (API-server and MLflow
    workers) but not the task processes (the scheduler's LocalExecutor workers, a Celery worker's pool): what the
    platform costs beside the tasks, on a machine it shares with them."""
    import psutil

    from ml_platform.state import read_state

    used = {}
    for name, entry in read_state(layout.state_file)["components"].items():
        try:
            process = psutil.Process(entry["pid"])
            tree = [process] if name == "scheduler" or name.startswith("celery-worker") else \
                [process, *process.children(recursive=True)]
            used[name] = round(sum(p.cpu_times().user + p.cpu_times().system for p in tree), 1)
        except (psutil.NoSuchProcess, TypeError):
            continue
    return used


def summarize(client, keys: list[tuple[str, str]], states: dict, chain: tuple[str, ...]) -> dict:
    """Latencies of these runs, their success and throughput. A hand-off into ``train_model`` waits for a pool
    slot by design: it is reported apart (``pool_wait``), not as scheduling latency."""
    first_running, handoff_running, handoff_queued, pool_wait, ends, queued, run_s = [], [], [], [], [], [], []
    for dag_id, run_id in keys:
        run = client.run(dag_id, run_id)
        tis = {ti["task_id"]: ti for ti in client.task_instances(dag_id, run_id)}
        tasks = [tis.get(name) for name in chain]
        queued.append(run["queued_at"])
        run_s.append(seconds(run["end_date"], run["queued_at"]))
        if tasks[0] and tasks[0]["start_date"]:
            first_running.append(seconds(tasks[0]["start_date"], run["queued_at"]))
        for up, down in zip(tasks, tasks[1:], strict=False):
            if up and down and up["end_date"] and down["start_date"]:
                if down["task_id"] == "train_model":
                    pool_wait.append(seconds(down["start_date"], up["end_date"]))
                    continue
                handoff_running.append(seconds(down["start_date"], up["end_date"]))
                handoff_queued.append(seconds(down["queued_when"], up["end_date"]))
        ends += [ti["end_date"] for ti in tasks if ti and ti["end_date"] and ti["state"] == "success"]
    span = seconds(max(ends), min(queued)) if ends else None
    succeeded = sum(1 for key in keys if states.get(key) == "success")
    figures = {"runs": len(keys), "succeeded": succeeded, "success_rate": round(succeeded / len(keys), 3),
               "unfinished": sum(1 for key in keys if key not in states),
               "tasks_per_s": round(len(ends) / span, 2) if span else None,
               "run_queued_to_first_task_running": _p(first_running),
               "upstream_success_to_downstream_queued": _p(handoff_queued),
               "upstream_success_to_downstream_running": _p(handoff_running),
               "run_queued_to_end": _p(run_s)}
    if pool_wait:
        figures["pool_wait_before_train_model"] = _p(pool_wait)
    return figures


def _p(samples: list[float]) -> dict:
    values = percentiles([s for s in samples if s is not None])
    return {k.replace("_ms", "_s"): round(v / 1000, 2) if k.endswith("_ms") else v for k, v in values.items()}


# Airflow's (and MLflow's) own values of the settings the platform tunes (src/ml_platform/components.py), and its
# task slots before tuning: the "untuned" profiles measure the platform as it was, in the same run.
UNTUNED = {"ML_PLATFORM_PARALLELISM": "4", "ML_PLATFORM_PRELOAD": "0", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "true",
                    "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "20",
                    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "16",
                    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
                    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "5"}
PROFILES = {  # name: (executor, settings, real pipelines among the runs)
    "local-untuned": ("local", UNTUNED, 0),
    "local": ("local", {}, 0),
    "celery-untuned": ("celery", UNTUNED, 0),
    "celery": ("celery", {}, 0),
    "celery-no-preload": ("celery", {"ML_PLATFORM_PRELOAD": "0"}, 0),
    "local-pipelines": ("local", {}, 20),
    "celery-pipelines": ("celery", {}, 20),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--profiles", default="local-untuned,local,celery-untuned,celery,local-pipelines,"
                                              "celery-pipelines",
                        help=f"comma-separated, of: {', '.join(PROFILES)}")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an environment variable for every profile (to try a setting)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "scale.json"))
    args = parser.parse_args()
    extra = dict(item.split("=", 1) for item in args.set)
    results = {"probe_dag": DAG_ID, "runs_at_once": args.runs, "machine": {"cpus": os.cpu_count()}, "profiles": {}}
    for name in args.profiles.split(","):
        executor, settings, pipelines = PROFILES[name]
        home = Path(tempfile.mkdtemp(prefix=f"bench-scale-{name}-"))
        figures = measure(executor, args.runs, home, {**settings, **extra}, pipelines)
        results["profiles"][name] = figures
        print(name, json.dumps(figures, indent=2), flush=True)
    out = Path(args.output)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
