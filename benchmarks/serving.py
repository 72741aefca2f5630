"""The model server (``ml_pipeline.deployment.serving``): latency, and a champion swap under load.

Trains the fraud model of ``config/model_configs/fraud_detection.yaml`` on generated data, registers it as
champion in a local MLflow registry (SQLite, no server needed), starts a real serving process and measures:
- ``/predict`` latency over HTTP for 1-row and 1,000-row requests (p50/p95/p99, one keep-alive client);
- the baseline in the same run: the same model's ``predict_proba`` in process on the same rows, so the figure
  that remains is what HTTP, JSON and validation add;
- a hot swap: a second version becomes champion and the server reloads while a client sends requests without
  pause: failed requests, the slowest request during the swap, and how long the swap took;
- the prediction log's cost: a second server with ``--prediction-log`` (same model, same rows, same request
  counts), measured in alternating blocks with the first, so ``/predict`` p95 with logging on and off come from
  the same run (goal: at most 10 % more); the writer's counters at the end show every row written, none dropped.

Writes benchmarks/results/serving.json.

    .venv/bin/python benchmarks/serving.py [--requests 300 --large-requests 50]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from feature_store import percentiles  # noqa: E402

END = dt.date(2026, 11, 20)
ADMIN_TOKEN = "bench-admin-token"  # the model server's /admin/reload needs it (ML_SERVING_ADMIN_TOKEN)


def train_and_register(tracking_uri: str, config, days: int, rows_per_day: int, lake: str):
    """Two versions of the fraud model (different seeds) registered; the first is champion. Returns (model, rows)."""
    from mlflow import MlflowClient

    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.loader import load_partitions
    from ml_pipeline.features.registry import build_features
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.trainer import to_model_input, train_classifier

    generate_dataset(lake, END, days, rows_per_day)
    frame, _ = load_partitions(lake, END, days)
    features = build_features(frame, config.data.features)
    client = MlflowClient(tracking_uri)
    models = []
    for seed in (1, 2):
        model = train_classifier(features, config.data.features, config.data.target_column,
                                 config.training.hyperparameters, seed)
        run_id, uri = registry.log_training_run(tracking_uri, "fraud_detection", f"bench-{seed}", {},
                                                {"seed": seed}, model,
                                                to_model_input(features.head(5), config.data.features),
                                                pip_requirements=["xgboost-cpu"])
        registry.register_once(client, "fraud_detection", run_id, uri, {})
        models.append(model)
    client.set_registered_model_alias("fraud_detection", "champion", "1")
    keys = [config.monitoring.entity_key] if config.monitoring.entity_key in features.columns else []
    rows = features.select(*config.data.features, *keys).to_dicts()  # as a client sends them: with the entity key
    return models[0], rows


def in_process(model, rows: list[dict], size: int, repeats: int, features: list[str]) -> dict:
    """The baseline: the model alone on a pandas frame of ``size`` rows (what serving must do at least)."""
    import pandas as pd

    samples = []
    for i in range(repeats):
        batch = rows[(i * size) % (len(rows) - size):][:size]
        t0 = time.perf_counter()
        model.predict_proba(pd.DataFrame.from_records(batch, columns=features))[:, 1]
        samples.append(time.perf_counter() - t0)
    return percentiles(samples)


def over_http(client, url: str, rows: list[dict], size: int, repeats: int, first: int = 0) -> list[float]:
    """Seconds of each of ``repeats`` ``/predict`` calls of ``size`` rows (request ``first`` on)."""
    samples = []
    for i in range(first, first + repeats):
        batch = rows[(i * size) % (len(rows) - size):][:size]
        t0 = time.perf_counter()
        response = client.post(f"{url}/predict", json={"rows": batch})
        response.raise_for_status()
        samples.append(time.perf_counter() - t0)
    return samples


def logging_on_and_off(client, off: str, on: str, rows: list[dict], size: int, repeats: int,
                       rounds: int) -> dict:
    """``/predict`` latency without and with the prediction log: the same requests, in alternating blocks.

    Blocks go off, on, on, off, …, so a drift of the machine's speed weighs on both; before an "off" block the
    logging server's buffer is left to drain, so its flush thread never runs while the other is measured. Each
    block starts with two requests not measured (a server that sat idle answers its first ones slower).
    """
    samples: dict[str, list[float]] = {"off": [], "on": []}
    block = max(1, repeats // rounds)
    for r in range(rounds):
        for which in (("off", "on") if r % 2 == 0 else ("on", "off")):
            if which == "off":
                wait_drained(client, on)
            url = off if which == "off" else on
            over_http(client, url, rows, size, 2, r * block)
            samples[which] += over_http(client, url, rows, size, block, r * block)
    result = {"http": percentiles(samples["off"]), "http_prediction_log": percentiles(samples["on"])}
    result["prediction_log_overhead_p95_pct"] = round(
        100 * (result["http_prediction_log"]["p95_ms"] / result["http"]["p95_ms"] - 1), 1)
    return result


def wait_drained(client, url: str, timeout: float = 60) -> dict:
    """Wait until the logging server's buffer is written out; return its counters."""
    deadline = time.monotonic() + timeout
    while True:
        stats = client.get(f"{url}/health").json()["prediction_log"]
        if stats["buffered_rows"] == 0 or time.monotonic() > deadline:
            return stats
        time.sleep(0.2)


def log_call_cost(rows: list[dict], work: Path, calls: int = 20_000) -> dict:
    """What ``PredictionLogWriter.log`` costs the request itself, in process (microseconds per call)."""
    from ml_pipeline.monitoring.prediction_log import PredictionLogWriter

    writer = PredictionLogWriter((work / "lake-calls").as_uri(), "fraud_detection", {}, work / "spill-calls",
                                 batch_rows=10**9, max_buffered_rows=10**9)
    scores = [0.5] * 1000
    result = {}
    for name, size in (("one_row_us", 1), ("thousand_rows_us", 1000)):
        batch, repeats = rows[:size], max(1, calls // size)
        t0 = time.perf_counter()
        for i in range(repeats):
            writer.log(str(i), "1", batch, scores[:size])
        result[name] = round((time.perf_counter() - t0) / repeats * 1e6, 2)
    return result


def hot_swap(url: str, tracking_uri: str, rows: list[dict]) -> dict:
    """Move champion to v2 and reload while a client keeps sending 1-row requests."""
    import httpx
    from mlflow import MlflowClient

    stop, failures, latencies, versions = threading.Event(), [], [], {}

    def hammer() -> None:
        with httpx.Client(timeout=30) as client:
            i = 0
            while not stop.is_set():
                t0 = time.perf_counter()
                try:
                    answer = client.post(f"{url}/predict", json={"rows": [rows[i % len(rows)]]})
                    answer.raise_for_status()
                    version = answer.json()["version"]
                    versions[version] = versions.get(version, 0) + 1
                except Exception as exc:
                    failures.append(repr(exc))
                latencies.append(time.perf_counter() - t0)
                i += 1

    thread = threading.Thread(target=hammer, daemon=True)
    thread.start()
    time.sleep(2)
    MlflowClient(tracking_uri).set_registered_model_alias("fraud_detection", "champion", "2")
    t0 = time.perf_counter()
    reload = httpx.post(f"{url}/admin/reload", timeout=120, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}).json()
    swap_s = time.perf_counter() - t0
    time.sleep(2)
    stop.set()
    thread.join(timeout=30)
    return {"requests": len(latencies), "failed_requests": len(failures), "versions_served": versions,
            "reload_s": round(swap_s, 3), "slowest_request_ms": round(max(latencies) * 1000, 1),
            **{f"all_{k}": v for k, v in percentiles(latencies).items()}, "reload": reload}


def main() -> None:
    import httpx

    from ml_pipeline.config import config_dir, load_model_config
    from ml_pipeline.deployment.client import ServingClient, free_port, running_server

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=800, help="1-row requests per server")
    parser.add_argument("--large-requests", type=int, default=160, help="1,000-row requests per server")
    parser.add_argument("--rounds", type=int, default=20, help="alternating blocks per server (off/on)")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--rows-per-day", type=int, default=20_000)
    args = parser.parse_args()
    config = load_model_config(config_dir() / "fraud_detection.yaml")
    work = Path(tempfile.mkdtemp(prefix="bench-serving-"))
    tracking_uri = f"sqlite:///{work}/mlflow.db"
    model, rows = train_and_register(tracking_uri, config, args.days, args.rows_per_day, (work / "data").as_uri())
    features = config.data.features
    port, logged_port = free_port(), free_port()
    url, logged_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{logged_port}"
    lake = (work / "lake").as_uri()
    started = time.perf_counter()
    with running_server("fraud_detection", port, tracking_uri, work / "serving.log", admin_token=ADMIN_TOKEN), \
            running_server("fraud_detection", logged_port, tracking_uri, work / "serving-logged.log",
                           prediction_log=lake, entity_key=config.monitoring.entity_key, spill_dir=work / "spill"):
        ServingClient(url).wait_healthy(300)
        start_s = time.perf_counter() - started
        ServingClient(logged_url).wait_healthy(300)
        with httpx.Client(timeout=60) as client:
            for target in (url, logged_url):
                over_http(client, target, rows, 1, 20)  # warm-up
                over_http(client, target, rows, 1000, 5)
            results = {
                "server_start_to_healthy_s": round(start_s, 2),
                "one_row": {**logging_on_and_off(client, url, logged_url, rows, 1, args.requests, args.rounds),
                            "in_process_baseline": in_process(model, rows, 1, args.requests, features)},
                "thousand_rows": {**logging_on_and_off(client, url, logged_url, rows, 1000, args.large_requests,
                                                       args.rounds),
                                  "in_process_baseline": in_process(model, rows, 1000, args.large_requests,
                                                                    features)},
            }
            logged = wait_drained(client, logged_url)
        results["hot_swap_under_load"] = hot_swap(url, tracking_uri, rows)
    for size in ("one_row", "thousand_rows"):
        http, base = results[size]["http"], results[size]["in_process_baseline"]
        results[size]["http_overhead_p50_ms"] = round(http["p50_ms"] - base["p50_ms"], 3)
    results["prediction_log_overhead_p95_pct"] = max(
        results[size]["prediction_log_overhead_p95_pct"] for size in ("one_row", "thousand_rows"))
    results["prediction_log"] = {"goal_overhead_p95_pct": 10.0, "server_counters": logged,
                                 "log_call_in_process": log_call_cost(rows, work)}
    results["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "load_average_1m_at_end": round(os.getloadavg()[0], 2)}  # other work skews latencies
    out = REPO / "benchmarks" / "results" / "serving.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
