"""What MLflow's authentication costs on the embedded platform (``ml_platform.mlflow_auth``): measure, then decide.

Starts the same ``mlflow server`` (2 workers, as the embedded platform runs it) three times on this machine:
- ``no-auth``: the baseline, a plain MLflow server (what the platform ran before, and what a user starts);
- ``basic-auth``: MLflow's basic-auth app as the platform configures it (checked passwords cached 60 s);
- ``basic-auth-uncached``: MLflow's own default (``auth_cache_ttl_seconds = 0``): every request hashes a password.

Against each, one client measures what the platform does most: a model server's alias poll
(``get_model_version_by_alias``) and a training run's tracking calls (create a run, 20 params, 50 metrics, tags,
end). Figures: per-call p50/p95, a training run's total, the server's start time and memory.

Writes benchmarks/results/mlflow_auth.json.

    .venv/bin/python benchmarks/mlflow_auth.py [--polls 300 --runs 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))
from feature_store import percentiles  # noqa: E402

from ml_platform import mlflow_auth  # noqa: E402
from ml_platform.components import BIN  # noqa: E402
from ml_platform.supervisor import stop_process_tree  # noqa: E402

PASSWORDS = {"admin": "bench-admin-password", "pipelines": "bench-pipelines-password",
             "serving": "bench-serving-password"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(home: Path, auth_cache_ttl_s: int | None) -> tuple[subprocess.Popen, str, float]:
    """An MLflow server in ``home`` (``None``: no auth); returns the process, its URL and its start time."""
    home.mkdir(parents=True)
    port = free_port()
    argv = [str(BIN / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "2",
            "--artifacts-destination", (home / "artifacts").as_uri(), "--serve-artifacts"]
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": f"sqlite:///{home / 'mlflow.db'}",
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        env.pop(name, None)
    if auth_cache_ttl_s is not None:
        auth_db = f"sqlite:///{home / 'auth.db'}"
        config = mlflow_auth.write_config(home / "auth.ini", auth_db, auth_cache_ttl_s)
        mlflow_auth.ensure_users(auth_db, PASSWORDS)
        argv[2:2] = ["--app-name", "basic-auth"]
        env.update(mlflow_auth.server_env(config, "bench-flask-secret"))
    t0 = time.perf_counter()
    log = open(home / "mlflow.log", "ab")  # noqa: SIM115 - the child owns it
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.perf_counter() - t0 > 300:
            raise RuntimeError(f"MLflow did not start: {(home / 'mlflow.log').read_text()[-2000:]}")
        time.sleep(0.2)
    return proc, url, time.perf_counter() - t0


def login(user: str | None) -> None:
    """This process's MLflow clients log in as ``user`` (None: as no one)."""
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        os.environ.pop(name, None)
    if user:
        os.environ.update(mlflow_auth.client_env(user, PASSWORDS[user]))


def measure(url: str, authenticated: bool, polls: int, runs: int) -> dict:
    """Training runs' tracking calls and a model server's alias polls against ``url``."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    login("pipelines" if authenticated else None)
    client = MlflowClient(url)
    experiment = client.create_experiment("bench")
    client.create_registered_model("bench_model")
    run_s = []
    for i in range(runs):
        t0 = time.perf_counter()
        run = client.create_run(experiment)
        client.log_batch(run.info.run_id, params=[Param(f"p{j}", str(j)) for j in range(20)],
                         metrics=[Metric(f"m{j}", j * 0.1, 0, 0) for j in range(50)],
                         tags=[RunTag("ml.config_sha256", "0" * 64), RunTag("ml.code_commit", "abc")])
        client.set_tag(run.info.run_id, "iteration", str(i))
        client.set_terminated(run.info.run_id)
        run_s.append(time.perf_counter() - t0)
    version = client.create_model_version("bench_model", f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_registered_model_alias("bench_model", "champion", version.version)
    login("serving" if authenticated else None)
    reader = MlflowClient(url)
    poll_s = []
    for _ in range(polls):
        t0 = time.perf_counter()
        reader.get_model_version_by_alias("bench_model", "champion")
        poll_s.append(time.perf_counter() - t0)
    return {"alias_poll": percentiles(poll_s), "training_run_calls": percentiles(run_s)}


def rss_mb(pid: int) -> float:
    """Memory of a process tree (MB)."""
    top = psutil.Process(pid)
    return round(sum(p.memory_info().rss for p in [top, *top.children(recursive=True)]) / 2**20, 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--polls", type=int, default=300)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    profiles = {"no-auth": None, "basic-auth": mlflow_auth.CACHE_TTL_S, "basic-auth-uncached": 0}
    results = {}
    work = Path(tempfile.mkdtemp(prefix="bench-mlflow-auth-"))
    try:
        for name, ttl in profiles.items():
            proc, url, start_s = start_server(work / name, ttl)
            try:
                figures = measure(url, ttl is not None, args.polls, args.runs)
                figures.update(start_s=round(start_s, 2), server_rss_mb=rss_mb(proc.pid))
                if ttl is not None:
                    anonymous = httpx.get(f"{url}/api/2.0/mlflow/experiments/search?max_results=1", timeout=10)
                    figures["anonymous_status"] = anonymous.status_code  # 401: the profile really checks logins
            finally:
                stop_process_tree(proc.pid, signal.SIGTERM)
            results[name] = figures
            print(f"{name:>20}: alias poll p50 {figures['alias_poll']['p50_ms']} ms, p95 "
                  f"{figures['alias_poll']['p95_ms']} ms; training run's calls p50 "
                  f"{figures['training_run_calls']['p50_ms']} ms; start {figures['start_s']} s; "
                  f"{figures['server_rss_mb']} MB")
    finally:
        login(None)
        shutil.rmtree(work, ignore_errors=True)
    base, ours = results["no-auth"], results["basic-auth"]
    result = {
        "benchmark": "mlflow_auth",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "setup": f"mlflow server --workers 2, SQLite stores, {args.polls} alias polls, {args.runs} training runs, "
                 "one client on the same machine",
        "profiles": results,
        "basic_auth_added_alias_poll_p50_ms": round(ours["alias_poll"]["p50_ms"] - base["alias_poll"]["p50_ms"], 2),
        "basic_auth_added_training_run_p50_ms": round(
            ours["training_run_calls"]["p50_ms"] - base["training_run_calls"]["p50_ms"], 2),
        "basic_auth_added_start_s": round(ours["start_s"] - base["start_s"], 2),
        "basic_auth_added_rss_mb": round(ours["server_rss_mb"] - base["server_rss_mb"], 1),
    }
    out = REPO / "benchmarks" / "results" / "mlflow_auth.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k.startswith("basic_auth_added")}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
