"""The tasks of ``monitoring_ml_pipelines``: measure the platform, record the findings, announce the changes.

The platform is measured through Airflow's REST API, the platform database and the model endpoints; findings go to
``platform_health``; what started or cleared since the previous run is announced.

Every check task records its own findings and returns counts; only counts and ids travel through XCom.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import TriggerRule, get_current_context, task

log = logging.getLogger(__name__)
WEEK_AND_A_DAY = dt.timedelta(days=8)
ACTIVE_TASK_STATES = ("scheduled", "queued", "running", "deferred")


@task(multiple_outputs=False)
def check_pipelines() -> dict[str, int]:
    """Every DAG's runs over 24 h and 7 days, stuck task instances and queued runs, judged and recorded."""
    from ml_pipeline.platform_health import runs, work
    from ml_pipeline_airflow.hooks.airflow_api import AirflowApiHook

    settings, now, subjects = _settings(), _now(), dag_subjects()
    api = AirflowApiHook().get_conn()
    try:
        since = (now - WEEK_AND_A_DAY).isoformat()
        dag_runs = list(api.pages("/dags/~/dagRuns", "dag_runs", {"run_after_gte": since, "order_by": "id"}))
        active = list(api.pages("/dags/~/dagRuns/~/taskInstances", "task_instances",
                                {"state": list(ACTIVE_TASK_STATES)}))
        idle = trained_nothing(api, since)
        timeouts = _execution_timeouts(api, {ti["dag_id"] for ti in active if ti["state"] == "running"})
    finally:
        api.close()
    subjects = runs.with_every_dag(subjects, dag_runs)
    findings = (runs.judge_runs(dag_runs, subjects, settings, now, idle)
                + runs.judge_queued_runs(dag_runs, subjects, settings, now)
                + work.judge_tasks(active, timeouts, subjects, settings, now))
    return _record(findings)


def trained_nothing(api: Any, since: str) -> frozenset[tuple[str, str]]:
    """Runs since ``since`` that trained nothing: the (DAG, run) of each whose ``train_model`` was skipped.

    A version had already learned their inputs (``skip_if_trained_before``): such a run takes seconds, not timed.
    """
    skipped = api.pages("/dags/~/dagRuns/~/taskInstances", "task_instances",
                        {"task_id": "train_model", "state": ["skipped"], "run_after_gte": since})
    return frozenset((ti["dag_id"], ti["dag_run_id"]) for ti in skipped)


@task(multiple_outputs=False)
def check_platform() -> dict[str, int]:
    """Airflow's components, DAG import errors, invalid model configs, training pools and dead letters, recorded.

    The dead-letter spool is drained first: letters the failure callback kept on disk while the platform database
    was down reach the queue within one health run, even if no other task fails on that worker afterwards.
    """
    import httpx

    from ml_pipeline.config import config_files, load_model_configs
    from ml_pipeline.platform_health import work
    from ml_pipeline_airflow.api_client import AirflowApiError
    from ml_pipeline_airflow.dag_kinds import CONFIG_ERROR_TAG
    from ml_pipeline_airflow.hooks.airflow_api import AirflowApiHook
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
    from ml_pipeline_airflow.pools import model_training_pool

    settings, now = _settings(), _now()
    health = import_errors = config_errors = slots = error = None
    api = AirflowApiHook().get_conn()
    try:  # each answer kept as it comes: a later call refused (a 403) does not unsay the health that answered
        health = api.request("GET", "/monitor/health")
        import_errors = list(api.pages("/importErrors", "import_errors"))
        config_errors = [d["dag_id"] for d in api.pages("/dags", "dags", {"tags": [CONFIG_ERROR_TAG]})]
        slots = {pool["name"]: pool["slots"] for pool in api.pages("/pools", "pools")}
    except (AirflowApiError, httpx.HTTPError) as exc:
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        api.close()
    configs, _ = load_model_configs(config_files())
    dead_letters = PlatformDatabaseHook().dead_letters
    findings = [drain_dead_letter_spool(dead_letters)]  # first: the letters it moves in are counted below
    pending = {model or "platform": count for model, count in dead_letters.pending_counts().items()}
    findings += work.judge_components(health, error, settings, now)
    if import_errors is not None and config_errors is not None:  # unknown is not "ok": not judged this time
        findings += work.judge_errors(import_errors, config_errors)
    if slots is not None:
        findings += work.judge_pools(slots, {c.model_name: model_training_pool(c) for c in configs.values()
                                             if c.enabled})
    findings += work.judge_dead_letters(pending, [c.model_name for c in configs.values()])
    return _record(findings)


@task(multiple_outputs=False)
def check_endpoints() -> dict[str, int]:
    """Each model endpoint answers and serves its model's champion."""
    from ml_pipeline.config import config_files, load_model_configs
    from ml_pipeline.deployment.client import ServingClient, ServingError
    from ml_pipeline.platform_health import work
    from ml_pipeline_airflow.hooks.mlflow import MlflowHook
    from ml_pipeline_airflow.hooks.model_serving import ModelServingHook

    settings = _settings()
    configs, _ = load_model_configs(config_files())
    serving, registry = ModelServingHook(), MlflowHook().get_conn()
    findings = []
    for config in configs.values():
        endpoint = config.deployment.endpoint_name
        if not endpoint or not config.enabled:  # a disabled model is served by nothing, on purpose
            continue
        champion = _champion(registry, config.model_name)
        try:
            url = serving.endpoint_url(endpoint)
        except ValueError as exc:  # no server for it: a config added seconds ago, or a platform that cannot start it
            findings.append(work.judge_endpoint(endpoint, config.model_name, None, None, str(exc), champion))
            continue
        try:
            answer, error = ServingClient(url, timeout=settings.endpoint_timeout_s).version(), None
        except ServingError as exc:  # an HTTP status: up, without a model; none: down
            answer = {"version": None} if exc.status_code else None
            error = str(exc)[:300]
        findings.append(work.judge_endpoint(endpoint, config.model_name, url, answer, error, champion))
    return _record(findings)


@task(multiple_outputs=False, trigger_rule=TriggerRule.ALL_DONE)
def announce_changes(*counts: dict[str, int] | None) -> dict[str, Any]:
    """One message per channel listing what started, escalated or recovered in this run; pages for endpoints.

    Runs whatever the checks did: a check that failed must not silence what the others recorded (the next run
    compares against those rows, so a transition not announced now would never be).
    """
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
    from ml_pipeline_airflow.notifications.platform_health import announce

    context, settings = get_current_context(), _settings()
    store = PlatformDatabaseHook().platform_health
    changes = store.transitions(context["run_id"])
    announce(changes, settings, context, open_problems=sum(f.problem for f in store.latest()))
    deleted = store.prune(_now() - dt.timedelta(days=settings.retention_days))
    return {"changes": [f"{c.transition}: {c.message}" for c in changes], "pruned": deleted,
            "problems": sum((c or {}).get("problems", 0) for c in counts)}


def drain_dead_letter_spool(store: Any) -> Any:
    """Move the spooled dead letters into ``store``; one ``dead_letter_spool`` finding (unreadable files warn)."""
    from ml_pipeline.failures.spool import drain_spool, rejected_files, spool_folder
    from ml_pipeline.platform_health import work

    folder, moved, error = spool_folder(), 0, None
    try:
        moved = drain_spool(store, folder).moved
    except Exception as exc:  # the database down (the files stay), or a folder refused: said, never fatal here
        log.exception("cannot drain the dead-letter spool %s", folder)
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    return work.judge_spool(str(folder), moved, rejected_files(folder), error)


def dag_subjects() -> dict[str, Any]:
    """Every model DAG the configs define: its model, its kind and its run deadline."""
    from ml_pipeline.config import config_files, load_model_configs
    from ml_pipeline.platform_health.runs import DagSubject
    from ml_pipeline_airflow.dag_kinds import KINDS

    configs, _ = load_model_configs(config_files())
    return {kind.dag_id(c.model_name): DagSubject(
                kind.dag_id(c.model_name), c.model_name, kind.name,
                c.alerts.deadline_for(kind.deadline) if kind.deadline else None)
            for c in configs.values() for kind in KINDS if kind.applies(c)}


def _record(findings: list) -> dict[str, int]:
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    stored = PlatformDatabaseHook().platform_health.record(findings, get_current_context()["run_id"])
    for finding in stored:
        if finding.problem:
            log.warning("%s %s: %s", finding.status.upper(), finding.check, finding.message)
    return {"findings": len(stored), "problems": sum(f.problem for f in stored),
            "changes": sum(f.transition is not None for f in stored)}


def _execution_timeouts(api: Any, dag_ids: set[str]) -> dict[tuple[str, str], float | None]:
    """``execution_timeout`` (seconds) of each task of ``dag_ids``, from the API's task definitions."""
    timeouts = {}
    for dag_id in dag_ids:
        for definition in api.request("GET", f"/dags/{dag_id}/tasks").get("tasks", []):
            value = definition.get("execution_timeout")
            seconds = None
            if isinstance(value, dict):
                seconds = value.get("days", 0) * 86400 + value.get("seconds", 0) + value.get("microseconds", 0) / 1e6
            timeouts[(dag_id, definition["task_id"])] = seconds
    return timeouts


def _champion(registry: Any, model: str) -> str | None:
    """The champion's version, None when there is none, ``CHAMPION_UNKNOWN`` when MLflow cannot tell.

    Cannot tell: unreachable (``TransientError``), a tracking URI that is not MLflow (``PermanentError``), or a
    refusal (401/403: the health check's login may not read that model); the endpoints are checked all the same.
    """
    from mlflow.exceptions import MlflowException

    from ml_pipeline.errors import PipelineError
    from ml_pipeline.platform_health.work import CHAMPION_UNKNOWN
    from ml_pipeline.registry.mlflow_registry import CHAMPION, alias_version

    try:
        found = alias_version(registry, model, CHAMPION)
    except (PipelineError, MlflowException) as exc:
        log.warning("cannot ask MLflow for %s's champion: %s", model, exc)
        return CHAMPION_UNKNOWN
    return None if found is None else str(found.version)


def _settings() -> Any:
    from ml_pipeline.platform_health.settings import load_settings

    return load_settings()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
