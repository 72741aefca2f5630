"""Drift of 1 M current rows against a 1 M-row reference over fraud_detection's features: time and memory.

Data: generated transactions, the five features computed from the raw rows with the day before as history (the
derived ones too: per-card windows and category statistics, as the monitoring computes them); reference = one day of
1 M rows, current = the next day. Paths, each in a fresh interpreter so its peak memory is its own, median of
``--repeats`` runs on the stable day:

- ``ours_profile``: profiling the reference (once per model version; the profile is cached as JSON);
- ``ours_compare``: judging the current rows against the cached profile: the monitoring's hot path (goal <= 2 s);
- ``oracle``: the same PSI written out in plain numpy, reference deciles and all counts recomputed per call;
- ``evidently``: Evidently 0.7's DataDriftPreset with PSI pinned for every column, from pandas frames, run in its own
  venv given by ``--evidently-python`` (recorded as not measured without one).

Reading the parquet files is not timed in any path. Memory, sampled every 2 ms: the peak RSS of the timed part above
the RSS when it starts, and the probe process's peak (data and libraries loaded). Each path also scores a drifted
day (amounts x1.8) and that day with one 1e6 outlier amount added, so the figures say what the scores mean, not only
how fast they come. Writes benchmarks/results/drift.json.
"""

from __future__ import annotations

import argparse
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
ROWS = 1_000_000
FEATURES = ["amount", "merchant_category", "transaction_count_1h", "transaction_avg_24h", "category_avg_amount_24h"]
CATEGORICAL = ["merchant_category"]
MEMORY = """
import os, threading, time
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss_mb():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE / 2**20

class Peak:
    '''RSS sampled every 2 ms from the probe's start: the process's peak, and a block's peak above its start.

    Not ru_maxrss: Linux carries the parent's peak across fork and exec into the child's ru_maxrss.
    '''
    def __init__(self):
        self.process_mb = self.block_mb = self.start_mb = rss_mb()
        threading.Thread(target=self.sample, daemon=True).start()
    def sample(self):
        while True:
            self.record(rss_mb())
            time.sleep(0.002)
    def record(self, mb):
        self.process_mb, self.block_mb = max(self.process_mb, mb), max(self.block_mb, mb)
    def __enter__(self):
        self.start_mb = self.block_mb = rss_mb()
        return self
    def __exit__(self, *exc):
        self.record(rss_mb())
        self.extra_mb = self.block_mb - self.start_mb

peak = Peak()
"""
OURS = MEMORY + """
import json, sys
t0 = time.perf_counter()
import polars as pl
from ml_pipeline.monitoring.drift import ReferenceProfile, compare, profile
import_s = time.perf_counter() - t0
mode, data, profile_path, features = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
frame = pl.read_parquet(data)
if mode == "profile":
    with peak:
        t0 = time.perf_counter()
        result = profile(frame, features)
        seconds = time.perf_counter() - t0
    open(profile_path, "w").write(json.dumps(result.to_dict()))
    scores = {}
else:
    reference = ReferenceProfile.from_dict(json.loads(open(profile_path).read()))
    with peak:
        t0 = time.perf_counter()
        report = compare(reference, frame)
        seconds = time.perf_counter() - t0
    scores = {f.feature: f.score for f in report.features}
    # the check as fraud_detection.yaml runs it (its per-feature levels and methods: one feature by wasserstein)
    from ml_pipeline.config import config_dir, load_model_config
    from ml_pipeline.monitoring.drift import Thresholds
    mon = load_model_config(config_dir() / "fraud_detection.yaml").monitoring
    levels = {name: Thresholds(**t.model_dump()) for name, t in mon.features.items()}
    t0 = time.perf_counter()
    shipped = compare(reference, frame, levels, mon.drift_share, default=Thresholds(**mon.thresholds.model_dump()))
    config_s = time.perf_counter() - t0
    scores_config = {f.feature: [f.method, f.score, f.status] for f in shipped.features}
print(json.dumps({"seconds": seconds, "import_s": import_s, "peak_extra_mb": peak.extra_mb,
                  "peak_rss_mb": peak.process_mb, "scores": scores,
                  "config_s": config_s if mode != "profile" else None,
                  "scores_config": scores_config if mode != "profile" else None}))
"""
ORACLE = MEMORY + """
import json, sys
import numpy as np
import polars as pl

def psi(r, c):
    r, c = np.maximum(r, 1e-4), np.maximum(c, 1e-4)
    return float(np.sum((c - r) * np.log(c / r)))

def numeric(ref, cur):
    finite = ref[np.isfinite(ref)]
    edges = np.unique(np.quantile(finite, np.arange(1, 10) / 10, method="inverted_cdf"))
    def shares(x):
        nan = np.isnan(x)
        counts = np.bincount(np.searchsorted(edges, x[~nan]), minlength=len(edges) + 1)
        return np.append(counts, nan.sum()) / len(x)
    return psi(shares(ref), shares(cur))

def categorical(ref, cur):
    known = np.unique(ref[ref != None])  # noqa: E711
    def shares(x):
        missing = x == None  # noqa: E711
        values, counts = np.unique(x[~missing], return_counts=True)
        seen = dict(zip(values, counts))
        known_counts = [seen.get(k, 0) for k in known]
        return np.array([*known_counts, (~missing).sum() - sum(known_counts), missing.sum()]) / len(x)
    return psi(shares(ref), shares(cur))

reference, current, categorical_columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
features = sys.argv[4].split(",")
to_numpy = lambda frame, name: (frame[name].to_numpy() if name in categorical_columns
                                else frame[name].cast(pl.Float64).to_numpy())
ref = {name: to_numpy(pl.read_parquet(reference), name) for name in features}
cur = {name: to_numpy(pl.read_parquet(current), name) for name in features}
with peak:
    t0 = time.perf_counter()
    scores = {n: (categorical if n in categorical_columns else numeric)(ref[n], cur[n]) for n in features}
    seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_extra_mb": peak.extra_mb, "peak_rss_mb": peak.process_mb,
                  "scores": scores}))
"""
EVIDENTLY = MEMORY + """
import json, sys
t0 = time.perf_counter()
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset
import_s = time.perf_counter() - t0
import evidently
import pandas as pd
reference, current, categorical_columns = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
features = sys.argv[4].split(",")
ref, cur = pd.read_parquet(reference), pd.read_parquet(current)
definition = DataDefinition(numerical_columns=[c for c in features if c not in categorical_columns],
                            categorical_columns=categorical_columns)
with peak:
    t0 = time.perf_counter()
    snapshot = Report([DataDriftPreset(method="psi")]).run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition))
    seconds = time.perf_counter() - t0
scores = {m["config"]["column"]: m["value"] for m in snapshot.dict()["metrics"] if "column" in m["config"]}
print(json.dumps({"seconds": seconds, "import_s": import_s, "peak_extra_mb": peak.extra_mb,
                  "peak_rss_mb": peak.process_mb, "scores": scores, "version": evidently.__version__}))
"""


def write_features(folder: Path) -> dict[str, Path]:
    """Reference day, next day, the next day drifted, and that with one outlier, as feature-only parquet files."""
    import polars as pl

    from ml_pipeline.data.drift_scenarios import SCENARIOS
    from ml_pipeline.data.generator import generate_day
    from ml_pipeline.features.registry import build_features

    def features(days: list[pl.DataFrame], day: dt.date) -> pl.DataFrame:
        built = build_features(pl.concat(days), FEATURES)
        return built.filter(pl.col("event_time").dt.date() == day).select(FEATURES)

    before, day, after = (DAY + dt.timedelta(days=offset) for offset in (-1, 0, 1))
    raw_day = generate_day(day, ROWS)
    frames = {"reference": features([generate_day(before, ROWS), raw_day], day),
              "stable": features([raw_day, generate_day(after, ROWS)], after),
              "drifted": features([raw_day, generate_day(after, ROWS, drift=SCENARIOS["amount-inflation"])], after)}
    frames["drifted_outlier"] = frames["drifted"].with_columns(
        pl.when(pl.int_range(pl.len()) == 0).then(1e6).otherwise(pl.col("amount")).alias("amount"))
    paths = {}
    for name, frame in frames.items():
        paths[name] = folder / f"{name}.parquet"
        frame.write_parquet(paths[name])
    return paths


def run_probe(python: str, code: str, *args: str) -> dict:
    """Run one probe in a fresh interpreter; its last stdout line is its JSON result."""
    env = {**os.environ, "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS", "2"),
           "EVIDENTLY_DISABLE_TELEMETRY": "1", "DO_NOT_TRACK": "1"}
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, check=True, cwd=REPO, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(python: str, code: str, args_for: dict[str, list[str]], repeats: int) -> dict:
    """Median time and memory over ``repeats`` runs on the stable day; scores on every current day."""
    runs = [run_probe(python, code, *args_for["stable"]) for _ in range(repeats)]
    figures = {key: round(statistics.median(r[key] for r in runs), 3)
               for key in ("seconds", "import_s", "peak_extra_mb", "peak_rss_mb", "config_s")
               if runs[0].get(key) is not None}
    figures["scores"] = {"stable": _rounded(runs[0]["scores"])} if runs[0]["scores"] else {}
    shipped = {"stable": runs[0]["scores_config"]} if runs[0].get("scores_config") else None
    for name in ("drifted", "drifted_outlier"):
        if name in args_for:
            probe = run_probe(python, code, *args_for[name])
            figures["scores"][name] = _rounded(probe["scores"])
            if shipped is not None:
                shipped[name] = probe["scores_config"]
    if shipped is not None:
        figures["scores_config"] = shipped
    return figures | ({"version": runs[0]["version"]} if "version" in runs[0] else {})


def _rounded(scores: dict[str, float]) -> dict[str, float]:
    return {name: round(score, 4) for name, score in scores.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evidently-python", default=None,
                        help="python of a venv with evidently 0.7 installed (never the project's)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    features, categorical = ",".join(FEATURES), ",".join(CATEGORICAL)
    with tempfile.TemporaryDirectory(prefix="bench-drift-") as tmp:
        paths = {name: str(path) for name, path in write_features(Path(tmp)).items()}
        profile_json = str(Path(tmp) / "profile.json")
        ours_profile = measure(sys.executable, OURS, {"stable": ["profile", paths["reference"], profile_json,
                                                                 features]}, args.repeats)
        currents = ("stable", "drifted", "drifted_outlier")
        ours = measure(sys.executable, OURS, {c: ["compare", paths[c], profile_json, features] for c in currents},
                       args.repeats)
        oracle = measure(sys.executable, ORACLE, {c: [paths["reference"], paths[c], categorical, features]
                                                  for c in currents}, args.repeats)
        evidently = (measure(args.evidently_python, EVIDENTLY, {c: [paths["reference"], paths[c], categorical,
                                                                    features] for c in currents}, args.repeats)
                     if args.evidently_python else None)
    result = {
        "benchmark": "drift", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "repeats_median_of": args.repeats,
        "reference_rows": ROWS, "current_rows": ROWS, "features": FEATURES,
        "data": "generated transactions; derived features computed from the raw rows with the day before as history",
        "ours_profile_s": ours_profile["seconds"], "ours_compare_s": ours["seconds"],
        "ours_profile_plus_compare_s": round(ours_profile["seconds"] + ours["seconds"], 3),
        "ours_import_s": ours["import_s"], "oracle_s": oracle["seconds"],
        "evidently_s": evidently["seconds"] if evidently else "not measured in this run (no --evidently-python)",
        "evidently_import_s": evidently["import_s"] if evidently else None,
        "evidently_version": evidently.get("version") if evidently else None,
        "peak_mb_ours_profile_extra": ours_profile["peak_extra_mb"],
        "peak_mb_ours_compare_extra": ours["peak_extra_mb"],
        "peak_mb_oracle_extra": oracle["peak_extra_mb"],
        "peak_mb_evidently_extra": evidently["peak_extra_mb"] if evidently else None,
        "peak_mb_process_ours_compare": ours["peak_rss_mb"], "peak_mb_process_oracle": oracle["peak_rss_mb"],
        "peak_mb_process_evidently": evidently["peak_rss_mb"] if evidently else None,
        "scores": {"ours": ours["scores"], "oracle": oracle["scores"],
                   "evidently": evidently["scores"] if evidently else None},
        "scores_meaning": "PSI per feature; stable: the next day of the same generator; drifted: that day with "
                          "amounts x1.8; drifted_outlier: the drifted day with one amount of 1e6",
        "goal_s_ours_compare": 2.0,
        "ours_compare_fraud_config_s": ours.get("config_s"),
        "scores_fraud_config": ours.get("scores_config"),
        "scores_fraud_config_meaning": "[method, score, status] per feature with fraud_detection.yaml's levels "
                                       "(category_avg_amount_24h by wasserstein_normed)",
    }
    print(f"ours: profile {result['ours_profile_s']:.2f} s (once per model version), compare "
          f"{result['ours_compare_s']:.2f} s (goal <= 2 s), +{result['peak_mb_ours_compare_extra']:.0f} MB peak; "
          f"oracle {result['oracle_s']:.2f} s, +{result['peak_mb_oracle_extra']:.0f} MB")
    if evidently:
        print(f"evidently {result['evidently_version']}: {result['evidently_s']:.2f} s per run, "
              f"+{result['peak_mb_evidently_extra']:.0f} MB peak, import {result['evidently_import_s']:.1f} s")
    else:
        print("evidently: not measured in this run (pass --evidently-python)")
    for path, by_current in result["scores"].items():
        for current, scores in (by_current or {}).items():
            print(f"  {path:<10} {current:<16} " + "  ".join(f"{n} {s:.3f}" for n, s in scores.items()))
    print(f"ours with fraud_detection.yaml's levels: compare {result['ours_compare_fraud_config_s']:.2f} s; "
          + "; ".join(f"{current}: " + ", ".join(f"{n} {m} {v:.3f} {st}" for n, (m, v, st) in scores.items())
                      for current, scores in (result["scores_fraud_config"] or {}).items()))
    out = REPO / "benchmarks" / "results" / "drift.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
