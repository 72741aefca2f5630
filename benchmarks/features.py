"""Fraud feature computation: our polars engine vs a straightforward pandas implementation, 1 M and 10 M rows.

Both compute the same features on the same generated transactions: per card from strictly earlier events (count
over the past hour, mean amount over the past 24 hours, amount / that mean) and per merchant category on the hour
(count and mean amount over the 24 hours before it); the results are compared row by row (equal counts, means
within 1e-9) before any figure counts. Each engine runs in a fresh process (its own peak
memory), median of ``--repeats`` runs. Baseline, measured in the same run: the pandas implementation. Goal from
issue #6: polars >= 5x faster than pandas. Writes benchmarks/results/features.json.
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
PROBE = """
import datetime as dt, json, resource, sys, time
import polars as pl
engine, path, out = sys.argv[1], sys.argv[2], sys.argv[3]
frame = pl.read_parquet(path)
start = time.perf_counter()
day_start = frame["event_time"].min().replace(hour=0, minute=0, second=0, microsecond=0)
day_end = day_start + dt.timedelta(days=1)
if engine == "polars":
    from ml_pipeline.features.fraud import category_stats_table, engineer_fraud_features
    result = engineer_fraud_features(frame).select("transaction_id", "transaction_count_1h", "transaction_avg_24h",
                                                   "amount_to_avg_24h")
    categories = category_stats_table(frame, day_start, day_end)
else:
    sys.path.insert(0, sys.argv[4])
    from features import pandas_category_stats, pandas_fraud_features
    pdf = frame.to_pandas()
    result = pl.from_pandas(pandas_fraud_features(pdf))
    categories = pl.from_pandas(pandas_category_stats(pdf, day_start, day_end))
seconds = time.perf_counter() - start
result.sort("transaction_id").write_parquet(out)
categories.sort("merchant_category", "event_time").write_parquet(out + ".categories")
print(json.dumps({"seconds": seconds, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def pandas_fraud_features(transactions):
    """The same features with pandas' grouped time-based rolling windows, closed on the left."""
    import numpy as np

    ordered = transactions.sort_values(["card_id", "event_time", "transaction_id"]).reset_index(drop=True)
    rolling = ordered.groupby("card_id", sort=False).rolling
    count_1h = rolling("1h", on="event_time", closed="left")["amount"].count()
    avg_24h = rolling("24h", on="event_time", closed="left")["amount"].mean()
    ordered["transaction_count_1h"] = count_1h.fillna(0).to_numpy().astype(np.int32)  # empty window: NaN
    ordered["transaction_avg_24h"] = avg_24h.to_numpy()
    ordered["amount_to_avg_24h"] = ordered["amount"] / ordered["transaction_avg_24h"]
    return ordered[["transaction_id", "transaction_count_1h", "transaction_avg_24h", "amount_to_avg_24h"]]


def pandas_category_stats(transactions, start, end):
    """Merchant-category snapshots on the hour (count, mean amount over [h - 24 h, h)) with pandas."""
    import pandas as pd

    binned = transactions.assign(hour=transactions["event_time"].dt.floor("h"))
    bins = binned.groupby(["merchant_category", "hour"])["amount"].agg(["size", "sum"])
    hours = pd.date_range(start - dt.timedelta(hours=24), end - dt.timedelta(hours=1), freq="h")
    grid = bins.reindex(pd.MultiIndex.from_product([sorted(binned["merchant_category"].unique()), hours],
                                                   names=["merchant_category", "hour"]), fill_value=0)
    rolled = grid.groupby(level=0).rolling(24, min_periods=1).sum().droplevel(0).reset_index()
    rolled["event_time"] = rolled["hour"] + pd.Timedelta(hours=1)
    rolled = rolled[(rolled["event_time"] >= start) & (rolled["event_time"] < end)]
    return pd.DataFrame({"merchant_category": rolled["merchant_category"].to_numpy(),
                         "event_time": rolled["event_time"].to_numpy(),
                         "category_txn_count_24h": rolled["size"].astype("int32").to_numpy(),
                         "category_avg_amount_24h": (rolled["sum"] / rolled["size"]).where(rolled["size"] > 0)
                         .to_numpy()})


def run(engine: str, data: Path, out: Path) -> dict:
    result = subprocess.run([sys.executable, "-c", PROBE, engine, str(data), str(out), str(Path(__file__).parent)],
                            capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(result.stdout.strip().splitlines()[-1])


def same_results(a: Path, b: Path) -> bool:
    """Row-by-row equality: counts exactly, means and ratios within 1e-9 (nulls and NaNs both mean 'no history')."""
    import polars as pl

    left, right = pl.read_parquet(a), pl.read_parquet(b)
    if left["transaction_id"].to_list() != right["transaction_id"].to_list():
        return False
    if not (left["transaction_count_1h"] == right["transaction_count_1h"]).all():
        return False
    for column in ("transaction_avg_24h", "amount_to_avg_24h"):
        if not _close(left[column], right[column]):
            return False
    left, right = pl.read_parquet(f"{a}.categories"), pl.read_parquet(f"{b}.categories")
    return (left.height == right.height > 0
            and left["merchant_category"].to_list() == right["merchant_category"].to_list()
            and (left["event_time"].dt.timestamp() == right["event_time"].dt.timestamp()).all()
            and (left["category_txn_count_24h"] == right["category_txn_count_24h"]).all()
            and _close(left["category_avg_amount_24h"], right["category_avg_amount_24h"]))


def _close(x, y) -> bool:
    x, y = x.fill_nan(None), y.fill_nan(None)
    return bool((x.is_null() == y.is_null()).all() and not ((x - y).abs() > 1e-9 * (1 + y.abs())).any())


def measure(rows: int, repeats: int, work: Path) -> dict:
    from ml_pipeline.data.generator import generate_day

    data = work / f"transactions_{rows}.parquet"
    generate_day(DAY, rows).write_parquet(data)
    figures = {}
    for engine in ("polars", "pandas"):
        runs = [run(engine, data, work / f"{engine}_{rows}.parquet") for _ in range(repeats)]
        figures[engine] = {"seconds": round(statistics.median(r["seconds"] for r in runs), 3),
                           "peak_rss_mb": round(statistics.median(r["peak_rss_mb"] for r in runs), 1)}
    equal = same_results(work / f"polars_{rows}.parquet", work / f"pandas_{rows}.parquet")
    if not equal:
        raise SystemExit(f"{rows} rows: polars and pandas features differ; no figure counts")
    return {"rows": rows, "results_equal": equal, **figures,
            "speedup_vs_pandas": round(figures["pandas"]["seconds"] / figures["polars"]["seconds"], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-features-") as tmp:
        sizes = {f"rows_{rows}": measure(rows, args.repeats, Path(tmp)) for rows in args.sizes}
    for name, f in sizes.items():
        print(f"{name}: polars {f['polars']['seconds']:.2f} s ({f['polars']['peak_rss_mb']:.0f} MB peak), pandas "
              f"{f['pandas']['seconds']:.2f} s ({f['pandas']['peak_rss_mb']:.0f} MB) -> {f['speedup_vs_pandas']}x, "
              f"results equal: {f['results_equal']}")
    result = {"benchmark": "features", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "repeats_median_of": args.repeats,
              "baseline": "pandas groupby().rolling(closed='left') card windows and hourly category snapshots "
                          "(the same features)",
              **sizes, "goal_speedup": 5.0}
    out = REPO / "benchmarks" / "results" / "features.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
