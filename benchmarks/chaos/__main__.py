"""``make chaos``: every fault of issue #20 against one real platform, a table of the goals, and the figures.

The figures go to ``benchmarks/results/chaos.json``.

Starts the embedded platform (``tests/support/chaos.py``: one small model with an endpoint) and, in this order:
MLflow killed while the model trains (that run's version becomes the champion), the model server killed under load,
the scheduler killed while the model trains again (that run's version is the next challenger), bad data landed
mid-run (a corrupt file, then a deleted partition), PostgreSQL killed mid-run, MLflow killed while the challenger is
deployed, and ``--transient-runs`` runs failing transiently at random. Exits 1 when a goal was missed (the table and
the JSON say which).

    .venv/bin/python -m benchmarks.chaos [--outage-s 60 --transient-runs 200] [--only CASE ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from benchmarks.chaos import cases, runs
from tests.support.chaos import chaos_platform
from tests.support.fleet import DAY

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "benchmarks" / "results" / "chaos.json"


def at_hour(hour: int) -> str:
    """A training run's logical date on the fleet's data day (one run per hour: distinct run ids)."""
    return f"{DAY.isoformat()}T{hour:02d}:00:00Z"


def attempt(name: str, run: Callable[[], cases.Case]) -> cases.Case:
    """Run one case; one that raised is a case whose goal ``completed`` was missed."""
    started = time.monotonic()
    print(f"--- {name}", flush=True)
    try:
        case = run()
    except Exception as exc:  # noqa: BLE001 - the table reports it; the next case still runs
        traceback.print_exc()
        case = cases.Case(name, "did not complete", {"error": f"{type(exc).__name__}: {exc}"[:500]})
        case.goal("completed", type(exc).__name__, "the case runs to its end", False)
    case.figures["case_wall_s"] = round(time.monotonic() - started, 1)
    print(json.dumps(dataclasses.asdict(case), indent=2, default=str), flush=True)
    return case


def run_all(p, outage_s: float, transient_runs: int) -> list[cases.Case]:
    """The cases, in the order whose versions the next ones need."""
    done = [attempt("mlflow_killed_during_training",
                    lambda: cases.mlflow_outage_during_training(p, at_hour(6), outage_s))]
    champion = (done[0].figures.get("registered_versions") or [None])[0]
    if champion is None:  # the case failed: the next ones still need a champion
        run_id, _ = cases.train(p, at_hour(5))
        champion = cases.versions_of_run(p, run_id)[0]
    cases.make_champion(p, champion)
    done.append(attempt("model_server_killed", lambda: cases.model_server_killed(p)))
    done.append(attempt("scheduler_killed", lambda: runs.scheduler_killed(p, at_hour(7))))
    challenger = (done[-1].figures.get("registered_versions") or [champion])[0]
    done.append(attempt("bad_data_corrupt_file", lambda: runs.bad_data(p, at_hour(8), "corrupt_file")))
    done.append(attempt("bad_data_partition_deleted", lambda: runs.bad_data(p, at_hour(9), "partition_deleted")))
    done.append(attempt("postgres_restarted", lambda: runs.postgres_restarted(p)))
    done.append(attempt("mlflow_killed_during_deployment",
                        lambda: cases.mlflow_outage_during_deployment(p, challenger, champion, outage_s)))
    done.append(attempt("transient_failures_at_random", lambda: runs.transient_at_random(p, transient_runs)))
    return done


# The cases that need no champion, to rerun one alone (``--only``): e.g. to check a setting that should change it.
STANDALONE = {
    "scheduler_killed": lambda p, args: runs.scheduler_killed(p, at_hour(7)),
    "bad_data_corrupt_file": lambda p, args: runs.bad_data(p, at_hour(8), "corrupt_file"),
    "bad_data_partition_deleted": lambda p, args: runs.bad_data(p, at_hour(9), "partition_deleted"),
    "postgres_restarted": lambda p, args: runs.postgres_restarted(p),
    "transient_failures_at_random": lambda p, args: runs.transient_at_random(p, args.transient_runs),
}


def table(done: list[cases.Case]) -> str:
    """One line per goal: case, goal, measured, target, met."""
    rows = [("case", "goal", "measured", "target", "met")]
    rows += [(c.name, name, json.dumps(g["measured"], default=str)[:40], g["target"][:48], "yes" if g["met"] else "NO")
             for c in done for name, g in c.goals.items()]
    widths = [max(len(str(r[i])) for r in rows) for i in range(5)]
    return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--outage-s", type=float, default=60.0, help="how long MLflow is kept down")
    parser.add_argument("--transient-runs", type=int, default=200)
    parser.add_argument("--only", nargs="+", choices=sorted(STANDALONE), help="run only these cases (and write "
                        "no results unless --output says where)")
    parser.add_argument("--output", default=None, help=f"default: {OUTPUT.relative_to(REPO)} (all cases run)")
    args = parser.parse_args()
    output = args.output or (None if args.only else str(OUTPUT))
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    try:
        with chaos_platform(home) as platform:
            done = ([attempt(name, lambda name=name: STANDALONE[name](platform, args)) for name in args.only]
                    if args.only else run_all(platform, args.outage_s, args.transient_runs))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    result = {"benchmark": "chaos", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
              "settings": {"mlflow_outage_s": args.outage_s, "transient_runs": args.transient_runs,
                           "executor": os.environ.get("ML_PLATFORM_EXECUTOR", "local")},
              "wall_s": round(time.monotonic() - started, 1), "all_goals_met": all(c.met for c in done),
              "cases": [dataclasses.asdict(c) for c in done]}
    print("\n" + table(done))
    missed = [f"{c.name}.{g}" for c in done for g, v in c.goals.items() if not v["met"]]
    print(f"\n{sum(len(c.goals) for c in done) - len(missed)} of {sum(len(c.goals) for c in done)} goals met"
          + (f"; missed: {', '.join(missed)}" if missed else "") + f" ({result['wall_s']:.0f} s)")
    if output:
        Path(output).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {output}")
    return 0 if result["all_goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
