"""Where the dashboard's data comes from in the API server: the platform database, the configs, Airflow's REST API.

The engine is built once per API-server worker from the ``ml_platform_db`` connection (``PlatformDatabaseHook``);
the model configs are read again only when a file changes. The newest training runs come from one call to
Airflow's REST API (``POST /api/v2/dags/~/dagRuns/list``) with the caller's own token, so a user sees only the
runs Airflow lets them see, and no task or page queries Airflow's metadata database directly.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from pathlib import Path

import httpx
from airflow.api_fastapi.auth.managers.base_auth_manager import COOKIE_NAME_JWT_TOKEN
from airflow.configuration import conf
from fastapi import Request

from ml_pipeline.config import config_files, load_model_configs
from ml_pipeline.dashboard.content import Models
from ml_pipeline.dashboard.data import DashboardReader
from ml_pipeline.dashboard.views import LastRun

log = logging.getLogger(__name__)
REST_TIMEOUT_S = 3.0
# one listing, newest first: a DAG whose newest run lies deeper (others ran many times since) shows "–"
RUNS_PER_DAG = 5


@lru_cache(maxsize=1)
def reader() -> DashboardReader:
    """The platform database's reader, on one engine per process (the hook's, from the connection)."""
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    return DashboardReader(PlatformDatabaseHook().engine)


def models() -> Models:
    """The valid model configs (``ML_PIPELINE_CONFIG_DIR``) and each model's training DAG id."""
    paths = config_files()
    return _models(tuple((path, path.stat().st_mtime_ns) for path in paths))


@lru_cache(maxsize=4)  # keyed by the config files' mtimes: an edit makes a new entry, old ones fall out
def _models(files: tuple[tuple[Path, int], ...]) -> Models:
    from ml_pipeline_airflow.dag_kinds import TRAINING

    configs, _ = load_model_configs([path for path, _ in files])
    by_name = {config.model_name: config for config in configs.values()}
    return Models(configs=by_name, training_dags={name: TRAINING.dag_id(name) for name in by_name})


def model_of_dag(dag_id: str) -> str | None:
    """The model one of whose DAGs is ``dag_id``, or None (a platform DAG)."""
    from ml_pipeline_airflow.dag_kinds import KINDS

    return next((name for name in models().configs for kind in KINDS if kind.dag_id(name) == dag_id), None)


def lineage_events(model: str, notes: list[str]) -> list[dict]:
    """The model's OpenLineage events from the platform database; when unreadable, none and a note saying why."""
    from ml_pipeline_airflow.dag_kinds import KINDS

    try:
        return reader().lineage_events(tuple(kind.dag_id(model) for kind in KINDS))
    except Exception as exc:  # a database older than lineage (no table), or one that fails: the page goes on
        log.warning("lineage events of %s cannot be read: %s", model, exc)
        notes.append(f"the lineage graph cannot be drawn: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return []


def last_runs(request: Request, notes: list[str]) -> dict[str, LastRun]:
    """The newest run of each training DAG, from Airflow's REST API as the caller; a failure adds a note."""
    dags = sorted(models().training_dags.values())
    token = _token(request)
    if not dags or not token:
        return {}
    # [api] base_url when set (Airflow's default leaves it unset), else where this request came in
    base = conf.get("api", "base_url", fallback="") or f"{request.url.scheme}://{request.url.netloc}"
    url = base.rstrip("/") + "/api/v2/dags/~/dagRuns/list"
    body = {"dag_ids": dags, "order_by": "-run_after", "page_limit": RUNS_PER_DAG * len(dags)}
    try:
        answer = httpx.post(url, json=body, headers={"Authorization": f"Bearer {token}"}, timeout=REST_TIMEOUT_S)
        answer.raise_for_status()
    except (httpx.HTTPError, ValueError) as exc:
        notes.append(f"Airflow's REST API did not list the training runs ({type(exc).__name__}: {exc}); "
                     "the last runs are not shown")
        return {}
    runs: dict[str, LastRun] = {}
    for run in answer.json().get("dag_runs", []):
        when = run.get("run_after") or run.get("logical_date")
        runs.setdefault(run["dag_id"], LastRun(run["dag_id"], run["dag_run_id"], run["state"],
                                               dt.datetime.fromisoformat(when) if when else None))
    return runs


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:]
    return request.cookies.get(COOKIE_NAME_JWT_TOKEN)
