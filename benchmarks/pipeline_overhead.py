"""Orchestration overhead: the fraud pipeline through Airflow vs. the same steps in one process.

Both use the same data (>= 1 M rows by default), the same lake and the same MLflow
server. The Airflow pipeline's first run after platform start (cold worker) and the
in-process first run are reported apart; then each side runs ``--repeats`` more times,
interleaved (Airflow, in process, Airflow, ...), each run with its own run id, and the
medians are compared: one training moves by a second either way on a shared machine.
An Airflow run lasts from its trigger to the success Airflow records. The in-process
runs register under a model name of their own (a copy of the config folder). Neither
scores a champion: only the deployment pipeline, which does not run here, moves it.
Each gap between two tasks is split where it goes (``mean_gap_phases_s``): the upstream
task's end until its downstream task is scheduled, then queued, then running.
Writes benchmarks/results/pipeline_overhead.json.

    .venv/bin/python benchmarks/pipeline_overhead.py [--rows-per-day 150000 --days 7 --repeats 3 --output FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from statistics import mean, median

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from ml_pipeline.feature_store.settings import FeatureStoreSettings
from ml_pipeline.pipelines import features, training
from ml_pipeline.pipelines.context import RunContext
from ml_platform.airflow_api import AirflowClient
from ml_platform.layout import Layout
from ml_platform.mlflow_auth import use_platform_credentials
from ml_platform.secrets import ensure_secrets

REPO = Path(__file__).resolve().parents[1]
DAG_ID = "ml_training_fraud_detection"
DAY = dt.date(2026, 11, 20)
FEATURE_DAG_ID = "feature_engineering_fraud_detection"
STEPS = ["load_data", "validate_data", "wait_for_features", "engineer_features", "train_model", "evaluate_model",
         "register_model", "send_notification"]
GAP_PHASES = ["end_to_scheduled", "scheduled_to_queued", "queued_to_started"]


def compute_features_through_airflow(layout) -> float:
    """The feature DAG once, before training (training reads its derived features from the store)."""
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    client.wait_for_dag(FEATURE_DAG_ID)
    t0 = time.perf_counter()
    run = client.trigger(FEATURE_DAG_ID, f"{DAY.isoformat()}T04:00:00Z")
    if client.wait_for_run(FEATURE_DAG_ID, run["dag_run_id"], timeout=3600) != "success":
        raise SystemExit(f"feature run failed; see {layout.logs}")
    return time.perf_counter() - t0


def run_through_airflow(layout, logical_time: str) -> dict:
    """Trigger the DAG over REST and read per-task durations from Airflow itself."""
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
    client.wait_for_dag(DAG_ID)
    triggered = dt.datetime.now(dt.UTC)
    t0 = time.perf_counter()
    run = client.trigger(DAG_ID, f"{DAY.isoformat()}T{logical_time}Z")
    state = client.wait_for_run(DAG_ID, run["dag_run_id"], timeout=3600)
    polled = time.perf_counter() - t0
    if state != "success":
        raise SystemExit(f"Airflow run ended {state}; see {layout.logs}")
    # to the success Airflow recorded (this machine's clock), not to the poll that saw it, up to 2 s later
    wall = (dt.datetime.fromisoformat(client.run(DAG_ID, run["dag_run_id"])["end_date"]) - triggered).total_seconds()
    tis = {t["task_id"]: t for t in client.task_instances(DAG_ID, run["dag_run_id"])}
    gaps, phases = gaps_and_phases(tis)
    summary = client.xcom(DAG_ID, run["dag_run_id"], "send_notification")
    evaluation = client.xcom(DAG_ID, run["dag_run_id"], "evaluate_model")
    return {"wall_s": wall, "polled_s": polled, "task_s": {s: tis[s]["duration"] for s in STEPS}, "gaps_s": gaps,
            "gap_phases_s": phases, "rows": summary["rows"], "champion_compared": evaluation["champion"] is not None}


def gaps_and_phases(tis: dict[str, dict]) -> tuple[list[float], dict[str, list[float]]]:
    """Each gap between two steps' tasks (the upstream task's end to the downstream task's start), and where it went:
    until the scheduler marked the downstream task scheduled, then queued (sent to the executor), then started (its
    process forked, its first call to the Task Execution API). ``tis``: the run's task instances by task id (REST)."""
    marks = [[dt.datetime.fromisoformat(ts) for ts in (tis[up]["end_date"], tis[down]["scheduled_when"],
                                                        tis[down]["queued_when"], tis[down]["start_date"])]
             for up, down in zip(STEPS, STEPS[1:], strict=False)]
    gaps = [(m[-1] - m[0]).total_seconds() for m in marks]
    return gaps, {name: [(m[k + 1] - m[k]).total_seconds() for m in marks] for k, name in enumerate(GAP_PHASES)}


class InProcess:
    """The same steps as plain function calls in this process, timed one by one; each run has its own id (a rerun with
    the same id reuses its training), as each Airflow run."""

    def __init__(self, layout) -> None:
        self.layout = layout
        self.path = in_process_config(layout.home / "config")
        self.config = load_model_config(self.path)
        self.runs = 0
        ctx = self.context()
        feature_run = [features.compute_day(ctx, day) for day in features.pending_days(ctx)]  # its own model name
        features.write_to_feature_store(ctx, feature_run)

    def context(self) -> RunContext:
        lake = self.layout.lake.as_uri()
        return RunContext(self.config, self.path, DAY, lake, self.layout.mlflow_url, DAG_ID,
                          f"benchmark_in_process_{self.runs}", uri_map={"s3://ml-data": lake},
                          feature_store=FeatureStoreSettings(root=join_uri(lake, "feature_store")))

    def run(self) -> dict:
        self.runs += 1
        return run_steps(self.context())


def in_process_config(root: Path) -> Path:
    """A copy of the config folder where the fraud model is ``fraud_detection_in_process`` (its own registered model
    and endpoint, the same validation rules): the run records the config file it read, which must say what it
    trained."""
    shutil.copytree(config_dir().parent, root)
    source = root / config_dir().name / "fraud_detection.yaml"
    path = source.with_name("fraud_detection_in_process.yaml")
    text = source.read_text().replace("model_name: fraud_detection\n", "model_name: fraud_detection_in_process\n", 1)
    path.write_text(text.replace("endpoint_name: fraud-detection-api", "endpoint_name: fraud-detection-in-process-api"))
    for schema in (root / "schemas").glob("fraud_detection.*"):
        shutil.copy(schema, schema.with_name(f"fraud_detection_in_process{schema.suffix}"))
    return path


def run_steps(ctx) -> dict:
    times, t0 = {}, time.perf_counter()

    def timed(name, fn, *args):
        start = time.perf_counter()
        result = fn(ctx, *args)
        times[name] = time.perf_counter() - start
        return result

    loaded = timed("load_data", training.load_data)
    timed("validate_data", training.validate_data, loaded)
    timed("wait_for_features", lambda c, got: features.features_ready(c, got["partitions"], got["fingerprints"]),
          loaded)
    table = timed("engineer_features", training.engineer_features, loaded)
    trained = timed("train_model", training.train_model, loaded, table)
    evaluation = timed("evaluate_model", training.evaluate_model, table, trained)
    registered = timed("register_model", training.register_model, loaded, trained, evaluation)
    timed("send_notification", training.summarize_run, loaded, trained, evaluation, registered)
    return {"wall_s": time.perf_counter() - t0, "task_s": times, "rows": loaded["rows"],
            "champion_compared": evaluation["champion"] is not None}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows-per-day", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="measured runs on each side (medians compared)")
    parser.add_argument("--output", default=str(REPO / "benchmarks" / "results" / "pipeline_overhead.json"))
    args = parser.parse_args()
    work = REPO / "benchmarks" / ".work"
    work.mkdir(exist_ok=True)
    layout = Layout.on_free_ports(Path(tempfile.mkdtemp(prefix="bench-", dir=work)))
    # the runs measured are the ones triggered here: no DAG runs by its own schedule or asset before it is unpaused
    env = {**os.environ, **layout.port_env(), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}
    generate_dataset(join_uri(layout.lake.as_uri(), "transactions"), DAY, args.days, args.rows_per_day)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "ml_platform.cli", "up"], env=env, check=True, capture_output=True)
    startup = time.perf_counter() - t0
    try:
        # The first task after a platform start pays a one-time worker warm-up: measure it apart.
        feature_run_s = compute_features_through_airflow(layout)
        cold = run_through_airflow(layout, "05:00:00")
        os.environ["MLFLOW_TRACKING_URI"] = layout.mlflow_url
        use_platform_credentials(layout.secrets_file)  # the platform's MLflow: the tasks' user
        in_process = InProcess(layout)
        cold_in_process = in_process.run()
        airflow, plain = [], []
        for i in range(args.repeats):  # interleaved: a slow minute on the machine hits both sides
            airflow.append(run_through_airflow(layout, f"{6 + i:02d}:00:00"))
            plain.append(in_process.run())
    finally:
        subprocess.run([sys.executable, "-m", "ml_platform.cli", "down"], env=env, check=False, capture_output=True)
        shutil.rmtree(layout.home, ignore_errors=True)
    result = {
        "benchmark": "pipeline_overhead",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "rows": airflow[0]["rows"],
        "platform_startup_s": round(startup, 1),
        "airflow_feature_run_s": round(feature_run_s, 2),
        "airflow_cold_first_run_s": round(cold["wall_s"], 2),
        "cold_first_task_s": round(cold["task_s"]["load_data"], 2),
        "in_process_first_run_s": round(cold_in_process["wall_s"], 2),
        **compare(airflow, plain),
    }
    print(json.dumps(result, indent=2))
    out = Path(args.output)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def compare(airflow: list[dict], plain: list[dict]) -> dict:
    """The medians of both sides' runs, the ratio of the medians, and each task's median against its step's."""
    walls, in_process = [r["wall_s"] for r in airflow], [r["wall_s"] for r in plain]
    per_task = {}
    for s in STEPS:
        task, step = median(r["task_s"][s] for r in airflow), median(r["task_s"][s] for r in plain)
        per_task[s] = {"airflow_task_s": round(task, 3), "in_process_s": round(step, 3),
                       "overhead_s": round(task - step, 3)}
    gaps = [g for r in airflow for g in r["gaps_s"]]
    return {
        "repeats": len(airflow),
        "airflow_trigger_to_success_s": round(median(walls), 2),
        "airflow_runs_s": [round(w, 2) for w in walls],
        "airflow_trigger_to_success_seen_by_polling_s": round(median(r["polled_s"] for r in airflow), 2),
        "airflow_scored_a_champion": any(r["champion_compared"] for r in airflow),
        "in_process_wall_s": round(median(in_process), 2),
        "in_process_runs_s": [round(w, 2) for w in in_process],
        "in_process_scored_a_champion": any(r["champion_compared"] for r in plain),
        "airflow_over_in_process_ratio": round(median(walls) / median(in_process), 2),
        "orchestration_overhead_s": round(median(walls) - median(in_process), 2),
        "mean_task_overhead_s": round(sum(t["overhead_s"] for t in per_task.values()) / len(STEPS), 3),
        "mean_gap_between_tasks_s": round(sum(gaps) / len(gaps), 3),
        "mean_gap_phases_s": {name: round(mean(g for r in airflow for g in r["gap_phases_s"][name]), 3)
                              for name in GAP_PHASES},
        "per_task": per_task,
    }


if __name__ == "__main__":
    sys.exit(main())
