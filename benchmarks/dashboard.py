"""Dashboard render time: each page through a real ``airflow api-server``, 20 models × 30 days of history.

Seeds a fresh platform database on the machine's PostgreSQL (127.0.0.1:5432): per model hourly monitoring checks
(5 features, live AUC), ``platform_health`` every 30 min for its 5 DAGs (4 checks each) plus its endpoint and dead
letters, component rows, 5 deployment events and dead letters: about 650,000 health rows. Then starts one API-server
worker with the plugin (fresh Airflow database, simple auth manager), logs in, and fetches each page ``--repeats``
times as a browser would (the ``_token`` cookie): Models, a model's page (the models in turn), Platform. Goal from
issue #18: p95 < 0.5 s per page.

Baseline, measured in the same run: what a user scripts instead of opening the Models page, Airflow's REST API for
the same run figures, one ``POST /api/v2/dags/~/dagRuns/list`` (its 5 DAGs, newest 100 runs) per model (20 calls).
The Airflow database holds no runs here, so the baseline is a floor (every call answers an empty list), and it still
answers only the runs part; drift, champions, endpoints and dead letters are not in Airflow at all.
Writes benchmarks/results/dashboard.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ml_pipeline.config import load_model_config  # noqa: E402
from tests.support.dashboard import KINDS, PASSWORD, USER, api_server, fresh_database, seed  # noqa: E402

RESULT = REPO / "benchmarks" / "results" / "dashboard.json"


def write_configs(folder: Path, count: int) -> list:
    """``count`` model configs, copies of fraud_detection's under other names (and endpoints)."""
    folder.mkdir(parents=True, exist_ok=True)
    template = (REPO / "config" / "model_configs" / "fraud_detection.yaml").read_text()
    for i in range(1, count + 1):
        (folder / f"model_{i:02d}.yaml").write_text(
            template.replace("model_name: fraud_detection", f"model_name: model_{i:02d}")
            .replace("endpoint_name: fraud-detection-api", f"endpoint_name: model-{i:02d}-api"))
    return [load_model_config(path) for path in sorted(folder.glob("*.yaml"))]


def timed(client: httpx.Client, paths: list[str], expect: str | None = None) -> list[float]:
    """Seconds per request (the whole body read), checking each answer."""
    seconds = []
    for path in paths:
        start = time.perf_counter()
        answer = client.get(path)
        seconds.append(time.perf_counter() - start)
        if answer.status_code != 200 or (expect and expect not in answer.text):
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:500]}")
    return seconds


def rest_baseline(api: httpx.Client, names: list[str]) -> float:
    """Seconds to list each model's DAG runs through Airflow's REST API, one call per model (its 5 DAGs)."""
    start = time.perf_counter()
    for name in names:
        body = {"dag_ids": [f"{prefix}_{name}" for prefix in KINDS], "order_by": "-run_after", "page_limit": 100}
        api.post("/api/v2/dags/~/dagRuns/list", json=body).raise_for_status()
    return time.perf_counter() - start


def figures(seconds: list[float]) -> dict[str, float]:
    """p50, p95 and max in seconds."""
    ordered = sorted(seconds)
    return {"p50_s": round(statistics.median(ordered), 4),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 4),
            "max_s": round(ordered[-1], 4), "requests": len(ordered)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        configs = write_configs(Path(tmp) / "configs", args.models)
        names = [c.model_name for c in configs]
        with fresh_database("bench_airflow") as airflow_db, fresh_database("bench_platform") as platform_db:
            start = time.perf_counter()
            seed(platform_db, configs, args.days, dt.datetime.now(dt.UTC))
            seed_s = time.perf_counter() - start
            with api_server(Path(tmp) / "airflow", airflow_db, platform_db, Path(tmp) / "configs") as base:
                token = httpx.post(f"{base}/auth/token", json={"username": USER, "password": PASSWORD},
                                   timeout=30).json()["access_token"]
                client = httpx.Client(base_url=base, cookies={"_token": token}, timeout=60)
                timed(client, ["/ml-platform/models", "/ml-platform/platform"])  # warm the worker's caches
                pages = {
                    "models_page": figures(timed(client, ["/ml-platform/models"] * args.repeats, "model_20")),
                    "model_page": figures(timed(client, [f"/ml-platform/models/{names[i % len(names)]}"
                                                         for i in range(args.repeats)], "Drift per feature")),
                    "platform_page": figures(timed(client, ["/ml-platform/platform"] * args.repeats, "DAG runs")),
                }
                api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=60)
                baseline = [rest_baseline(api, names) for _ in range(max(3, args.repeats // 4))]
    result = {"benchmark": "dashboard", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "models": args.models,
              "days": args.days, "seed_s": round(seed_s, 1), "goal_p95_s": 0.5,
              "how": "real airflow api-server (1 worker) with the plugin, cookie-authenticated GETs, body read",
              **{f"{page}_{k}": v for page, numbers in pages.items() for k, v in numbers.items()},
              "baseline": "Airflow REST: POST /api/v2/dags/~/dagRuns/list per model (its 5 DAGs, newest 100 runs): "
                          f"{len(names)} calls; the metadata database holds no runs, so this is a floor",
              "baseline_models_runs_via_rest": figures(baseline)}
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
