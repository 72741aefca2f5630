"""Validation of 1 M rows with fraud_detection's full rule set: wall time and memory.

Each measurement runs in a fresh interpreter so its peak memory is its own. Three
figures per size, median of three runs: reading the partition (baseline, measured
in the same run: what any consumer of the data pays), running every rule through
pandera (`validate_frame`), and the whole gate (`check_partition`: rules, report
next to the data, quarantine bookkeeping). Goal from issue #4: a few seconds for
1 M rows. Writes benchmarks/results/validation.json.
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

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 20)
SIZES = (100_000, 1_000_000)
REPEATS = 3
PROBE = """
import datetime as dt, json, resource, sys, time
from pathlib import Path
import psutil
from ml_pipeline.config import load_model_config
from ml_pipeline.data.loader import load_partition
from ml_pipeline.validation.engine import validate_frame
from ml_pipeline.validation.model_rules import rules_for_model
from ml_pipeline.validation.partition import check_partition, partition_facts, partition_ref

def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def now_mb():
    return psutil.Process().memory_info().rss / 2**20

config_path = Path(sys.argv[3])
config = load_model_config(config_path)
rules = rules_for_model(config, config_path)
dataset, day = sys.argv[1], sys.argv[2]
uri = f"{dataset}/{day}"
t0 = time.perf_counter()
frame = load_partition(uri)
read_s = time.perf_counter() - t0
ref = partition_ref(dataset, uri)
before_rules = now_mb()
t0 = time.perf_counter()
results = validate_frame(frame, rules, partition_facts(ref, rules))
rules_s = time.perf_counter() - t0
peak_rules = peak_mb()
t0 = time.perf_counter()
report = check_partition(frame, config, rules, ref, sys.argv[4])
gate_s = time.perf_counter() - t0
print(json.dumps({"rows": frame.height, "read_s": read_s, "rules_s": rules_s, "gate_s": gate_s,
                  "checks": len(results), "status": report.status,
                  "frame_mb": frame.estimated_size() / 2**20,
                  "peak_rss_validation_extra_mb": max(0.0, peak_rules - before_rules), "peak_rss_mb": peak_mb()}))
"""


def measure(lake: Path, rows: int) -> dict:
    """Median of ``REPEATS`` fresh-process runs on a partition of ``rows`` generated transactions."""
    from ml_pipeline.data.generator import generate_day, write_day

    dataset = (lake / f"transactions_{rows}").as_uri()
    for offset in range(8):  # the day itself plus the trailing week the volume rule compares against
        day = DAY - dt.timedelta(days=offset)
        write_day(generate_day(day, rows if offset == 0 else 1_000), dataset, day)
    runs = []
    for _ in range(REPEATS):
        out = subprocess.run([sys.executable, "-c", PROBE, dataset, DAY.isoformat(),
                              str(REPO / "config" / "model_configs" / "fraud_detection.yaml"), lake.as_uri()],
                             capture_output=True, text=True, check=True, cwd=REPO,
                             env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")})
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = ("read_s", "rules_s", "gate_s", "peak_rss_validation_extra_mb", "peak_rss_mb")
    result = {key: round(statistics.median(r[key] for r in runs), 3) for key in keys}
    result.update(rows=runs[0]["rows"], checks=runs[0]["checks"], status=runs[0]["status"],
                  frame_mb=round(runs[0]["frame_mb"], 1),
                  rules_rows_per_s=round(runs[0]["rows"] / result["rules_s"]))
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-validation-") as tmp:
        sizes = {f"rows_{rows}": measure(Path(tmp), rows) for rows in SIZES}
    result = {"benchmark": "validation", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "repeats_median_of": REPEATS,
              "baseline": "read_s: reading the partition's parquet files (what any consumer pays)",
              **sizes, "goal_s_for_1m_rows": 5.0}
    for name, figures in sizes.items():
        print(f"{name}: read {figures['read_s']:.2f} s (baseline), rules {figures['rules_s']:.2f} s "
              f"({figures['checks']} checks, {figures['rules_rows_per_s']:,} rows/s), whole gate "
              f"{figures['gate_s']:.2f} s; frame {figures['frame_mb']} MB, validation adds "
              f"{figures['peak_rss_validation_extra_mb']} MB peak RSS (process peak {figures['peak_rss_mb']} MB)")
    out = REPO / "benchmarks" / "results" / "validation.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
