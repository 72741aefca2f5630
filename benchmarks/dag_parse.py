"""DAG parse time for many generated model configs: total and per DAG, for 20 and 200 models.

Each measurement runs in a fresh interpreter that has already imported Airflow
(as a dag-processor has), then executes airflow/dags/ml_training.py against a
temporary config folder. Baseline, measured in the same run: the same file
against an empty config folder (what the factory itself costs).
Goals from issue #3: <= 1 s for 20 models, <= 5 s for 200. Writes benchmarks/results/dag_parse.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
DAG_FILE = REPO / "airflow" / "dags" / "ml_training.py"
PROBE = """
import json, runpy, sys, time
import airflow.sdk
start = time.perf_counter()
namespace = runpy.run_path(sys.argv[1])
elapsed = time.perf_counter() - start
print(json.dumps({"seconds": elapsed, "dags": sum(1 for v in namespace.values() if type(v).__name__ == "DAG")}))
"""
REPEATS = 3


def write_configs(folder: Path, count: int) -> None:
    """``count`` variants of the fraud config, each with its own name, schedule and endpoint."""
    base = yaml.safe_load((REPO / "config" / "model_configs" / "fraud_detection.yaml").read_text())
    for i in range(count):
        base.update(model_name=f"model_{i:03d}", schedule=f"{i % 60} {i % 24} * * *")
        base["deployment"]["endpoint_name"] = f"model-{i:03d}-api"  # endpoints are one per model
        (folder / f"model_{i:03d}.yaml").write_text(yaml.safe_dump(base))


def parse(folder: Path) -> dict:
    """Median of REPEATS fresh-interpreter parses of the DAG file against ``folder``."""
    env = {**os.environ, "ML_PIPELINE_CONFIG_DIR": str(folder)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", PROBE, str(DAG_FILE)], env=env, check=True,
                                      capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for _ in range(REPEATS)]
    return {"total_s": round(statistics.median(r["seconds"] for r in runs), 3), "dags": runs[0]["dags"]}


def main() -> int:
    results = {}
    for count in (0, 20, 200):
        with tempfile.TemporaryDirectory() as tmp:
            write_configs(Path(tmp), count)
            result = parse(Path(tmp))
        if count:
            result["per_dag_ms"] = round(1000 * result["total_s"] / count, 2)
        results[f"models_{count}"] = result
        print(f"{count:>4} configs: {result}")
    baseline = results.pop("models_0")
    out = {"benchmark": "dag_parse", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
           "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "repeats_median_of": REPEATS,
           "baseline_no_configs_s": baseline["total_s"], **results,
           "goal_total_s": {"models_20": 1.0, "models_200": 5.0}}
    path = REPO / "benchmarks" / "results" / "dag_parse.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
