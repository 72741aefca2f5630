"""The platform watching itself at 20 models: how long a run of ``monitoring_ml_pipelines`` takes, and what its REST
reads cost against the script a team writes instead, measured in the same run.

Starts a platform on free ports with the twenty small models of ``tests/support/fleet.py`` (each with its
validation, feature, training, deployment and monitoring DAGs: 100 model DAGs, plus the platform's own), gives the
platform some history (``--probe-runs`` runs of ``platform_scale_probe`` and two failing drills), then:

- runs ``monitoring_ml_pipelines`` ``--runs`` times, one after the other, and reads each run's and each task's
  duration back from the REST API (queued → end: what an operator waits for);
- times, from this process against the same API server, the reads ``check_pipelines`` makes (two paginated
  listings: every DAG's runs of the last 8 days, every active task instance) against the baseline, the monitoring
  script teams write against Airflow's REST API: for each DAG, its runs, then its active task instances.

Writes benchmarks/results/platform_health.json.

    .venv/bin/python benchmarks/platform_health.py [--models 20 --runs 5 --probe-runs 60 --repeats 5]
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
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "benchmarks"), str(REPO)]
from feature_store import percentiles  # noqa: E402

from tests.support.fleet import write_fleet  # noqa: E402  (the pool test's twenty models)

HEALTH_DAG = "monitoring_ml_pipelines"
ACTIVE = ["scheduled", "queued", "running", "deferred"]


def seconds(later: str | None, earlier: str | None) -> float | None:
    """Seconds between two API timestamps (None when either is missing)."""
    if not later or not earlier:
        return None
    return (dt.datetime.fromisoformat(later) - dt.datetime.fromisoformat(earlier)).total_seconds()


def stats(samples: list[float]) -> dict:
    """p50/p95 in seconds of ``samples``."""
    values = percentiles([s for s in samples if s is not None])
    return {k.replace("_ms", "_s"): round(v / 1000, 3) if k.endswith("_ms") else v for k, v in values.items()}


def give_history(client, probe_runs: int) -> None:
    """Finished runs for the checks to read: the scale probe, and two drills that fail for good."""
    for dag_id in ("platform_scale_probe", "platform_failure_drill", HEALTH_DAG):
        client.wait_for_dag(dag_id)
    runs = [("platform_scale_probe", client.trigger("platform_scale_probe", None)["dag_run_id"])
            for _ in range(probe_runs)]
    runs += [("platform_failure_drill", client.trigger("platform_failure_drill", None,
                                                       conf={"mode": "permanent"})["dag_run_id"]) for _ in range(2)]
    for dag_id, run_id in runs:
        client.wait_for_run(dag_id, run_id, timeout=900)


def health_runs(client, count: int) -> dict:
    """Run the platform-health DAG ``count`` times in a row; its run and task durations."""
    totals, tasks, findings = [], {}, []
    for _ in range(count):
        run = client.trigger(HEALTH_DAG, None)
        state = client.wait_for_run(HEALTH_DAG, run["dag_run_id"], timeout=900)
        if state != "success":
            raise RuntimeError(f"{HEALTH_DAG} run {run['dag_run_id']} ended {state}")
        done = client.run(HEALTH_DAG, run["dag_run_id"])
        totals.append(seconds(done["end_date"], done["queued_at"]))
        for ti in client.task_instances(HEALTH_DAG, run["dag_run_id"]):
            tasks.setdefault(ti["task_id"], []).append(ti["duration"])
        findings.append(sum(client.xcom(HEALTH_DAG, run["dag_run_id"], task)["findings"]
                            for task in ("check_pipelines", "check_platform", "check_endpoints")))
    return {"run_queued_to_end": stats(totals), "tasks": {name: stats(values) for name, values in tasks.items()},
            "findings_per_run": max(findings)}


def rest_reads(client, repeats: int) -> dict:
    """Our two listings against the per-DAG loop, each ``repeats`` times; what each read."""
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=8)).isoformat()

    def ours() -> int:
        runs = list(client.pages("/dags/~/dagRuns", "dag_runs", {"run_after_gte": since, "order_by": "id"}))
        active = list(client.pages("/dags/~/dagRuns/~/taskInstances", "task_instances", {"state": ACTIVE}))
        return len(runs) + len(active)

    dag_ids = [d["dag_id"] for d in client.pages("/dags", "dags")]

    def per_dag() -> int:
        read = 0
        for dag_id in dag_ids:
            read += len(list(client.pages(f"/dags/{dag_id}/dagRuns", "dag_runs", {"run_after_gte": since})))
            read += len(list(client.pages(f"/dags/{dag_id}/dagRuns/~/taskInstances", "task_instances",
                                          {"state": ACTIVE})))
        return read

    figures = {}
    for name, read in (("ours_two_listings", ours), ("per_dag_script", per_dag)):
        samples, items = [], 0
        for _ in range(repeats):
            started = time.perf_counter()
            items = read()
            samples.append(time.perf_counter() - started)
        figures[name] = {**stats(samples), "items_read": items}
    figures["dags"] = len(dag_ids)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5, help="runs of monitoring_ml_pipelines")
    parser.add_argument("--probe-runs", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=5, help="times each way of reading the REST API is timed")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "platform_health.json"))
    args = parser.parse_args()
    from ml_platform.clients import airflow_client
    from ml_platform.layout import Layout

    home = Path(tempfile.mkdtemp(prefix="bench-platform-health-"))
    layout = Layout.on_free_ports(home)
    write_fleet(home / "models", layout.lake, args.models)
    (home / "platform_health.yaml").write_text("schedule: null\n")  # runs only when measured
    env = {**os.environ, **layout.port_env(), "ML_PIPELINE_CONFIG_DIR": str(home / "models"),
           "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}  # only the measured runs run
    cli = str(REPO / ".venv" / "bin" / "ml-platform")
    try:
        started = subprocess.run([cli, "up"], env=env, capture_output=True, text=True, timeout=600)
        if started.returncode != 0:
            raise RuntimeError(f"the platform did not start: {started.stdout[-2000:]}{started.stderr[-2000:]}")
        os.environ.update(layout.port_env())
        client = airflow_client(layout)
        client.wait_for_dag(f"model_monitoring_ctr_{args.models - 1:02d}", timeout=300)
        give_history(client, args.probe_runs)
        results = {"models": args.models, "machine": {"cpus": os.cpu_count()},
                   "health_dag": health_runs(client, args.runs), "rest_reads_s": rest_reads(client, args.repeats)}
    finally:
        subprocess.run([cli, "down"], env=env, capture_output=True, text=True, timeout=300)
    print(json.dumps(results, indent=2))
    reads = results["rest_reads_s"]
    print(f"\n{HEALTH_DAG} at {args.models} models ({reads['dags']} DAGs): run p50 "
          f"{results['health_dag']['run_queued_to_end']['p50_s']} s; REST reads p50 "
          f"{reads['ours_two_listings']['p50_s']} s (two listings) vs {reads['per_dag_script']['p50_s']} s "
          "(one call per DAG)")
    out = Path(args.output)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
