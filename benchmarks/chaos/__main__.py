"""``make chaos``: every fault of issue #20 against one real platform, a table of the goals, and the figures.

The figures go to ``benchmarks/results/chaos.json`` (``--executor celery``: ``chaos_celery.json``).

Starts the embedded platform (``tests/support/chaos.py``: one small model with an endpoint) and, in this order:
MLflow killed while the model trains (that run's version becomes the champion), the model server killed under load,
the scheduler killed while the model trains again (that run's version is the next challenger), bad data landed
mid-run (a corrupt file, then a deleted partition), PostgreSQL killed mid-run, MLflow killed while the challenger is
deployed, and ``--transient-runs`` runs failing transiently at random. Exits 1 when a goal was missed (the table and
the JSON say which).

``--executor celery`` starts the same platform on CeleryExecutor, on this machine's PostgreSQL and Redis
(``tests/support/platforms.executor_env``: its databases are dropped and its Redis database flushed afterwards). It
adds ``celery_worker_killed`` (``workers.py``) after the scheduler case and skips ``postgres_restarted``, whose
database is then a shared server the suite does not own; ``plan.py`` says which case runs where, and the results
list what was skipped and why.

    .venv/bin/python -m benchmarks.chaos [--executor local|celery] [--outage-s 60 --transient-runs 200]
                                         [--only CASE ...] [--keep]

``--only`` with ``--output benchmarks/results/chaos.json`` replaces those cases' figures there and keeps the others;
``--keep`` leaves the platform's folder (component and task logs) for a post-mortem.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import pytest

from benchmarks.chaos import cases, plan, results, runs, workers
from tests.support.chaos import chaos_platform
from tests.support.fleet import DAY
from tests.support.platforms import executor_env, require_services


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


def run_all(p, args: argparse.Namespace) -> list[cases.Case]:
    """The cases of ``args.executor`` (``plan.cases_for``), in the order whose versions the next ones need."""
    todo = plan.cases_for(args.executor)
    done = [attempt("mlflow_killed_during_training",
                    lambda: cases.mlflow_outage_during_training(p, at_hour(6), args.outage_s))]
    champion = (done[0].figures.get("registered_versions") or [None])[0]
    if champion is None:  # the case failed: the next ones still need a champion
        run_id, _ = cases.train(p, at_hour(5))
        champion = cases.versions_of_run(p, run_id)[0]
    cases.make_champion(p, champion)
    done.append(attempt("model_server_killed", lambda: cases.model_server_killed(p)))
    done.append(attempt("scheduler_killed", lambda: runs.scheduler_killed(p, at_hour(7))))
    challenger = (done[-1].figures.get("registered_versions") or [champion])[0]
    needing_versions = {"mlflow_killed_during_deployment": lambda: cases.mlflow_outage_during_deployment(
        p, challenger, champion, args.outage_s)}
    for name in todo[len(done):]:
        done.append(attempt(name, needing_versions.get(name) or (lambda name=name: STANDALONE[name](p, args))))
    return done


# The cases that need no champion, to rerun one alone (``--only``): e.g. to check a setting that should change it.
STANDALONE = {
    "scheduler_killed": lambda p, args: runs.scheduler_killed(p, at_hour(7)),
    "celery_worker_killed": lambda p, args: workers.celery_worker_killed(p, at_hour(10)),
    "bad_data_corrupt_file": lambda p, args: runs.bad_data(p, at_hour(8), "corrupt_file"),
    "bad_data_partition_deleted": lambda p, args: runs.bad_data(p, at_hour(9), "partition_deleted"),
    "postgres_restarted": lambda p, args: runs.postgres_restarted(p),
    "transient_failures_at_random": lambda p, args: runs.transient_at_random(p, args.transient_runs),
}


def services_missing(executor: str) -> str | None:
    """Why ``executor``'s external services cannot be used (``None`` when they answer, or none are needed)."""
    if executor == "local":
        return None
    try:
        require_services()
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        return str(exc.msg)
    return None


def arguments() -> argparse.Namespace:
    """The command line, checked: ``--only`` names cases that run on ``--executor``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executor", choices=plan.EXECUTORS, default="local",
                        help="local: the embedded LocalExecutor platform (default); celery: CeleryExecutor on this "
                             "machine's PostgreSQL and Redis (tests/support/platforms.py)")
    parser.add_argument("--outage-s", type=float, default=60.0, help="how long MLflow is kept down")
    parser.add_argument("--transient-runs", type=int, default=200)
    parser.add_argument("--only", nargs="+", choices=sorted(STANDALONE), help="run only these cases (and write "
                        "no results unless --output says where: an existing results file keeps its other cases)")
    parser.add_argument("--keep", action="store_true", help="keep the platform's folder (its logs and task logs)")
    parser.add_argument("--output", default=None, help="default: benchmarks/results/chaos.json (local) or "
                        "chaos_<executor>.json, when all cases run")
    args = parser.parse_args()
    if args.only and (wrong := plan.unavailable(args.only, args.executor)):
        parser.error(f"not on {args.executor}: " + "; ".join(f"{name} ({why})" for name, why in wrong.items()))
    return args


def main() -> int:
    args = arguments()
    output = args.output or (None if args.only else str(plan.default_output(args.executor)))
    if missing := services_missing(args.executor):
        print(missing, file=sys.stderr)
        return 2
    skipped = {} if args.only else plan.skipped_for(args.executor)
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix="bench-chaos-"))
    try:  # on Celery: its databases are dropped and its Redis database flushed afterwards
        with executor_env(args.executor), chaos_platform(home) as platform:
            done = ([attempt(name, lambda name=name: STANDALONE[name](platform, args)) for name in args.only]
                    if args.only else run_all(platform, args))
    finally:
        if args.keep:
            print(f"kept {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)
    settings = {"mlflow_outage_s": args.outage_s, "transient_runs": args.transient_runs, "executor": args.executor}
    result = results.document(done, skipped, settings, time.monotonic() - started)
    print("\n" + results.table(done, skipped))
    print("\n" + results.summary(done, result["wall_s"]))
    if output:
        if args.only and Path(output).exists():
            result = results.merged(json.loads(Path(output).read_text()), result)
        Path(output).write_text(json.dumps(result, indent=2, default=str) + "\n")
        print(f"wrote {output}")
    return 0 if result["all_goals_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
