"""Which chaos cases run on which executor, and where their figures go.

Pure data and functions (no platform): ``__main__`` follows them, the unit tests check them.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "benchmarks" / "results"
EXECUTORS = ("local", "celery")

# Every case of a full run, in the order whose versions the next ones need (``__main__.run_all``).
ORDER = (
    "mlflow_killed_during_training",
    "model_server_killed",
    "scheduler_killed",
    "celery_worker_killed",
    "bad_data_corrupt_file",
    "bad_data_partition_deleted",
    "postgres_restarted",
    "mlflow_killed_during_deployment",
    "transient_failures_at_random",
)
# A case that exists on some executors only: the executors it needs.
ONLY_ON = {"celery_worker_killed": ("celery",)}
# A case that does not run on an executor, and why (recorded in the results as skipped).
SKIPPED = {
    "celery": {
        "postgres_restarted": "on CeleryExecutor the platform's database is this machine's shared PostgreSQL server "
                              "(127.0.0.1:5432), not an embedded one the platform supervises: the suite does not "
                              "kill a server it does not own, and nothing would restart it",
    },
}


def cases_for(executor: str) -> list[str]:
    """The cases a full run makes on ``executor``, in order."""
    check(executor)
    return [name for name in ORDER if executor in ONLY_ON.get(name, EXECUTORS)
            and name not in SKIPPED.get(executor, {})]


def skipped_for(executor: str) -> dict[str, str]:
    """The cases of the suite that do not run on ``executor``, each with its reason (cases that exist there only)."""
    check(executor)
    return {name: why for name, why in SKIPPED.get(executor, {}).items()
            if executor in ONLY_ON.get(name, EXECUTORS)}


def unavailable(names: list[str], executor: str) -> dict[str, str]:
    """Of ``names`` (``--only``), those that cannot run on ``executor``, each with the reason."""
    why = {**skipped_for(executor),
           **{name: f"runs on {', '.join(on)} only" for name, on in ONLY_ON.items() if executor not in on}}
    return {name: why[name] for name in names if name in why}


def default_output(executor: str) -> Path:
    """Where a full run on ``executor`` writes its figures: ``chaos.json`` (local), else ``chaos_<executor>.json``."""
    check(executor)
    return RESULTS / ("chaos.json" if executor == "local" else f"chaos_{executor}.json")


def check(executor: str) -> None:
    """Raise ``ValueError`` naming the choices unless ``executor`` is one."""
    if executor not in EXECUTORS:
        raise ValueError(f"unknown executor {executor!r}: expected one of {', '.join(EXECUTORS)}")
