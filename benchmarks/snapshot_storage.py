"""What reproducibility costs in storage: a training run's snapshot, against a manifest and a raw copy.

The snapshot is built by the training pipeline's own ``load_data`` (the window's daily partitions concatenated
and written as one zstd parquet file under the run folder), on fraud_detection's config (``lookback_days`` 7),
for the demo's data (7 days x 20,000 generated transactions, ``make demo``) and for 1 M rows a day. Compared with:

- the manifest of immutable partition files: a JSON list of every parquet file of the window with its size and
  sha256 (what a run would keep instead of a copy, if the lake's partitions never changed);
- the raw copy: the window's partition files copied as they are into the run folder (what a user does by hand).

Each size runs in a fresh interpreter whose CPU time and peak memory are its own; when 1 M rows a day does not fit
in a minute of CPU and 2 GB of memory, 200,000 rows a day is measured and extrapolated linearly (said in the
result). Daily figures assume one training run a day per model, 20 models shaped like fraud_detection.
Writes benchmarks/results/snapshot_storage.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAY = dt.date(2026, 11, 20)
DEMO_ROWS_PER_DAY = 20_000  # `ml-platform demo --rows-per-day` default, over DEMO_DAYS = 7 days
LARGE_ROWS_PER_DAY, FALLBACK_ROWS_PER_DAY = 1_000_000, 200_000
MODELS, KEEP_DAYS = 20, 30
CPU_LIMIT_S, MEMORY_LIMIT_MB = 60.0, 2048.0
PROBE = """
import datetime as dt, hashlib, json, resource, sys, time
from pathlib import Path
import fsspec
from ml_pipeline.config import load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri, list_parquet_files, to_uri
from ml_pipeline.data.loader import window_uris
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.snapshot import load_data

def cpu_s():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

lake, rows_per_day, day = to_uri(sys.argv[1]), int(sys.argv[2]), dt.date.fromisoformat(sys.argv[3])
config_path = Path(sys.argv[4])
config = load_model_config(config_path)
days = config.data.lookback_days
t0, c0 = time.perf_counter(), cpu_s()
generate_dataset(join_uri(lake, "transactions"), day, days, rows_per_day)
generate_s, generate_cpu = time.perf_counter() - t0, cpu_s() - c0
ctx = RunContext(config, config_path, day, lake, "unused", "ml_training_fraud_detection", "bench",
                 uri_map={"s3://ml-data": lake})
t0, c0 = time.perf_counter(), cpu_s()
loaded = load_data(ctx)
snapshot_s, snapshot_cpu = time.perf_counter() - t0, cpu_s() - c0
fs, path = fsspec.core.url_to_fs(loaded["snapshot_uri"])
files = [f for uri in window_uris(ctx.dataset_uri, day, days) for f in list_parquet_files(uri)]
t0 = time.perf_counter()
entries = []
for uri in files:
    f_fs, f_path = fsspec.core.url_to_fs(uri)
    digest = hashlib.sha256(f_fs.cat_file(f_path)).hexdigest()
    entries.append({"uri": uri, "bytes": f_fs.size(f_path), "sha256": digest})
manifest_s = time.perf_counter() - t0
manifest = json.dumps({"dataset": ctx.dataset_uri, "files": entries}, indent=2)
print(json.dumps({
    "rows_per_day": rows_per_day, "lookback_days": days, "rows_per_run": loaded["rows"],
    "snapshot_bytes_per_run": fs.size(path), "raw_copy_bytes_per_run": sum(e["bytes"] for e in entries),
    "manifest_bytes_per_run": len(manifest.encode()), "partition_files": len(entries),
    "snapshot_write_s": round(snapshot_s, 2), "snapshot_cpu_s": round(snapshot_cpu, 2),
    "manifest_hash_s": round(manifest_s, 2), "generate_s": round(generate_s, 2),
    "generate_cpu_s": round(generate_cpu, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


def measure(rows_per_day: int) -> dict:
    """One fresh interpreter: generate the window, build the run's snapshot with ``load_data``, hash the files."""
    config = REPO / "config" / "model_configs" / "fraud_detection.yaml"
    with tempfile.TemporaryDirectory(prefix="bench-snapshot-") as lake:
        out = subprocess.run([sys.executable, "-c", PROBE, lake, str(rows_per_day), DAY.isoformat(), str(config)],
                             capture_output=True, text=True, check=True, cwd=REPO,
                             env={**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2")})
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["bytes_per_row"] = round(result["snapshot_bytes_per_run"] / result["rows_per_run"], 2)
    return result


def at_scale() -> dict:
    """The run at 1 M rows a day: measured when it fits the limits, else 200k measured and scaled linearly."""
    large = measure(LARGE_ROWS_PER_DAY)
    fits = large["snapshot_cpu_s"] <= CPU_LIMIT_S and large["peak_rss_mb"] <= MEMORY_LIMIT_MB
    if fits:
        return {**large, "how": "measured"}
    small = measure(FALLBACK_ROWS_PER_DAY)
    factor = LARGE_ROWS_PER_DAY / FALLBACK_ROWS_PER_DAY
    scaled = {key: round(small[key] * factor) for key in ("rows_per_run", "snapshot_bytes_per_run",
                                                          "raw_copy_bytes_per_run")}
    return {**small, **scaled, "rows_per_day": LARGE_ROWS_PER_DAY, "measured_at_rows_per_day": FALLBACK_ROWS_PER_DAY,
            "how": f"extrapolated linearly x{factor:g} from {FALLBACK_ROWS_PER_DAY:,} rows/day (1 M: "
                   f"{large['snapshot_cpu_s']} s CPU, {large['peak_rss_mb']} MB peak)"}


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.2f} GB"


def main() -> None:
    demo, large = measure(DEMO_ROWS_PER_DAY), at_scale()
    per_day = MODELS * large["snapshot_bytes_per_run"]
    result = {
        "benchmark": "snapshot_storage",
        "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        "snapshot": "load_data's snapshot.parquet (zstd) of fraud_detection's lookback window, one per training run",
        "manifest": "JSON list of the window's partition files with size and sha256 (immutable partitions only)",
        "raw_copy": "the window's partition files copied as they are into the run folder",
        "demo_rows_per_run": demo["rows_per_run"],
        "demo_snapshot_bytes_per_run": demo["snapshot_bytes_per_run"],
        "demo_raw_copy_bytes_per_run": demo["raw_copy_bytes_per_run"],
        "demo_manifest_bytes_per_run": demo["manifest_bytes_per_run"],
        "bytes_per_row": large["bytes_per_row"], "demo_bytes_per_row": demo["bytes_per_row"],
        "large_how": large["how"],
        "large_rows_per_run": large["rows_per_run"],
        "snapshot_bytes_per_run_1m_rows": large["snapshot_bytes_per_run"],
        "raw_copy_bytes_per_run_1m_rows": large["raw_copy_bytes_per_run"],
        "manifest_bytes_per_run": large["manifest_bytes_per_run"],
        "raw_copy_bytes_per_run": large["raw_copy_bytes_per_run"],
        "models": MODELS,
        "snapshot_bytes_per_day_20_models_1m_rows": per_day,
        "manifest_bytes_per_day_20_models": MODELS * large["manifest_bytes_per_run"],
        "raw_copy_bytes_per_day_20_models_1m_rows": MODELS * large["raw_copy_bytes_per_run"],
        # derived, not measured: a daily run's window overlaps yesterday's in all days but one, so a copy of each
        # partition kept once (content-addressed, shared by the runs that read it) stores one new day per run
        "dedup_partition_copy_bytes_per_day_20_models_1m_rows": round(
            MODELS * large["raw_copy_bytes_per_run"] / large["lookback_days"]),
        "keep_snapshots_days": KEEP_DAYS,
        "retention_30d_bytes": KEEP_DAYS * per_day,
        # at most: each model's champion, previous champion and challenger, older than the 30 days, kept too
        "retention_30d_bytes_with_3_protected_per_model": (KEEP_DAYS + 3) * per_day,
        "no_retention_bytes_per_year": 365 * per_day,
        "timings_1m_rows": {key: large[key] for key in ("snapshot_write_s", "snapshot_cpu_s", "manifest_hash_s",
                                                        "generate_s", "peak_rss_mb")},
        "demo": demo, "large": large,
    }
    print(f"demo ({demo['rows_per_run']:,} rows/run): snapshot {mb(demo['snapshot_bytes_per_run'])}, raw copy "
          f"{mb(demo['raw_copy_bytes_per_run'])}, manifest {demo['manifest_bytes_per_run']:,} B "
          f"({demo['bytes_per_row']} B/row)")
    print(f"1 M rows/day x {large['lookback_days']} days ({large['how']}): snapshot "
          f"{mb(large['snapshot_bytes_per_run'])} per run ({large['bytes_per_row']} B/row, written in "
          f"{large['snapshot_write_s']} s), raw copy {mb(large['raw_copy_bytes_per_run'])}, manifest "
          f"{large['manifest_bytes_per_run']:,} B (hashing {large['manifest_hash_s']} s)")
    print(f"x {MODELS} models: {mb(per_day)} a day; kept {KEEP_DAYS} days: {mb(KEEP_DAYS * per_day)} "
          f"(with 3 protected per model: {mb(result['retention_30d_bytes_with_3_protected_per_model'])}); "
          f"without retention {mb(365 * per_day)} a year")
    out = REPO / "benchmarks" / "results" / "snapshot_storage.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
