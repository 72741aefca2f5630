"""Judging the platform's moving parts: stuck tasks, components, errors, training pools, dead letters, endpoints.

Inputs are what Airflow's REST API, the platform database and the model servers
answered; output is findings (``store.HealthFinding``).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from ml_pipeline.platform_health.runs import DagSubject, timestamp
from ml_pipeline.platform_health.settings import HealthSettings
from ml_pipeline.platform_health.store import ALERT, OK, WARN, HealthFinding

COMPONENTS = ("scheduler", "triggerer", "dag_processor")


def stuck_reason(ti: dict[str, Any], timeout_s: float | None, settings: HealthSettings,
                 now: dt.datetime) -> str | None:
    """Why a task instance counts as stuck (waiting, running past its timeout, deferred too long), or None."""
    state = ti.get("state")
    if state in ("scheduled", "queued"):
        # Airflow keeps an old queued_when through a retry or a resumed deferral: a scheduled task counts from
        # when it was scheduled, a queued one from when it was queued
        since = timestamp(ti.get("scheduled_when") if state == "scheduled" else ti.get("queued_when"))
        if since and now - since > dt.timedelta(minutes=settings.waiting_minutes):
            return f"{state} for {_age(now - since)} without starting (limit {settings.waiting_minutes:g} min)"
    elif state == "running" and timeout_s is not None:
        since = timestamp(ti.get("start_date"))
        if since and (now - since).total_seconds() > timeout_s + 60 * settings.running_grace_minutes:
            timeout = _age(dt.timedelta(seconds=timeout_s))
            return f"running for {_age(now - since)}, past its execution_timeout of {timeout}"
    elif state == "deferred":
        since = timestamp((ti.get("trigger") or {}).get("created_date") or ti.get("start_date"))
        if since and now - since > dt.timedelta(hours=settings.deferred_hours):
            return f"deferred for {_age(now - since)} (limit {settings.deferred_hours:g} h)"
    return None


def judge_tasks(task_instances: list[dict[str, Any]], timeouts: dict[tuple[str, str], float | None],
                subjects: dict[str, DagSubject], settings: HealthSettings, now: dt.datetime) -> list[HealthFinding]:
    """One ``stuck_tasks`` finding per known DAG (and per DAG with a stuck task)."""
    stuck: dict[str, list[dict]] = defaultdict(list)
    for ti in task_instances:
        reason = stuck_reason(ti, timeouts.get((ti["dag_id"], ti["task_id"])), settings, now)
        if reason:
            stuck[ti["dag_id"]].append({"run_id": ti["dag_run_id"], "task_id": ti["task_id"],
                                        "map_index": ti.get("map_index", -1), "state": ti["state"], "why": reason})
    findings = []
    for dag_id in sorted(set(subjects) | set(stuck)):
        tasks = stuck.get(dag_id, [])
        first = f": {tasks[0]['task_id']} in {tasks[0]['run_id']} {tasks[0]['why']}" if tasks else ""
        findings.append(HealthFinding(
            check="stuck_tasks", subject=dag_id, model=subjects.get(dag_id, DagSubject(dag_id)).model,
            status=ALERT if tasks else OK, value=float(len(tasks)),
            message=f"{dag_id}: {len(tasks)} stuck task(s){first}" if tasks else f"{dag_id}: nothing stuck",
            data={"tasks": tasks[:20]}))
    return findings


def judge_components(health: dict[str, Any] | None, error: str | None, settings: HealthSettings,
                     now: dt.datetime) -> list[HealthFinding]:
    """The metadata database, scheduler, triggerer and dag-processor, from ``/api/v2/monitor/health``."""
    if health is None:  # the others were not measured: they keep their status (``judged`` false), none recovers
        return [HealthFinding(check="component", subject="api_server", status=ALERT,
                              message=f"Airflow's API server did not answer: {error}"),
                *(HealthFinding(check="component", subject=name, status=OK, data={"judged": False},
                                message=f"{name}: not measured (the API server did not answer)")
                  for name in ("metadatabase", *COMPONENTS))]
    findings = [HealthFinding(check="component", subject="api_server", status=OK, message="API server answers")]
    database = (health.get("metadatabase") or {}).get("status")
    findings.append(HealthFinding(check="component", subject="metadatabase",
                                  status=OK if database == "healthy" else ALERT,
                                  message=f"metadata database: {database or 'unknown'}"))
    for name in COMPONENTS:
        part = health.get(name) or {}
        beat = timestamp(part.get(f"latest_{name}_heartbeat"))
        age = (now - beat).total_seconds() if beat else None
        healthy = part.get("status") == "healthy" and age is not None and age <= settings.heartbeat_max_s
        findings.append(HealthFinding(
            check="component", subject=name, status=OK if healthy else ALERT, value=age,
            threshold=settings.heartbeat_max_s,
            message=(f"{name}: {part.get('status') or 'never started'}, last heartbeat "
                     + (f"{age:.0f} s ago" if age is not None else "never"))))
    return findings


def judge_errors(import_errors: list[dict[str, Any]], config_error_dags: list[str]) -> list[HealthFinding]:
    """DAG files that do not import, and model configs shown as config-error DAGs."""
    files = sorted({e.get("filename") or "?" for e in import_errors})
    return [
        HealthFinding(check="import_errors", subject="platform", status=ALERT if files else OK,
                      value=float(len(files)),
                      data={"files": files, "errors": [e.get("stack_trace", "")[-300:] for e in import_errors][:5]},
                      message=(f"{len(files)} DAG file(s) do not import: {', '.join(files)}" if files
                               else "every DAG file imports")),
        HealthFinding(check="config_errors", subject="platform", status=WARN if config_error_dags else OK,
                      value=float(len(config_error_dags)), data={"dags": sorted(config_error_dags)},
                      message=(f"{len(config_error_dags)} model config(s) are invalid (config-error DAGs: "
                               f"{', '.join(sorted(config_error_dags))})" if config_error_dags
                               else "every model config is valid")),
    ]


def judge_pools(slots: dict[str, int], training_pools: dict[str, str]) -> list[HealthFinding]:
    """Each enabled model's training pool (by model): one Airflow lacks, or with no slot, means it never trains.

    Airflow leaves a task of a pool it does not know ``scheduled`` for ever, logging it only in the scheduler's log.
    """
    findings = []
    for model, pool in sorted(training_pools.items()):
        if pool not in slots:
            why = (f"{model} trains in pool {pool!r}, which Airflow does not have: its training task would wait for "
                   f"ever; create it (`airflow pools set {pool} <slots> '<description>'`) or fix the model's "
                   "training.pool")
        elif slots[pool] == 0:  # -1: unlimited
            why = (f"{model} trains in pool {pool!r}, which has no slot: its training task would wait for ever; give "
                   f"it slots (`airflow pools set {pool} <slots> '<description>'`)")
        else:
            why = None
        findings.append(HealthFinding(check="training_pool", subject=model, model=model, status=ALERT if why else OK,
                                      value=1.0 if why else 0.0, data={"pool": pool, "slots": slots.get(pool)},
                                      message=why or f"{model} trains in pool {pool!r} ({slots[pool]} slots)"))
    return findings


def judge_dead_letters(pending: dict[str, int], models: list[str]) -> list[HealthFinding]:
    """Pending dead letters per model (and per other owner, e.g. the platform's drills)."""
    return [HealthFinding(check="dead_letters", subject=model, model=model, value=float(pending.get(model, 0)),
                          status=WARN if pending.get(model) else OK,
                          message=(f"{model}: {pending[model]} failed task(s) wait in the dead-letter queue "
                                   "(ml-pipeline dlq list)" if pending.get(model) else f"{model}: no dead letters"))
            for model in sorted(set(models) | set(pending))]


def judge_spool(folder: str, moved: int, rejected: dict[str, str], error: str | None) -> HealthFinding:
    """The dead-letter spool: letters moved in by this run's drain, files set aside as unreadable, a failed drain."""
    data = {"folder": folder, "moved": moved, "rejected": dict(list(rejected.items())[:20]), "error": error}
    if error:
        status, message = WARN, f"the dead-letter spool {folder} could not be drained: {error}"
    elif rejected:
        first, why = next(iter(rejected.items()))
        status = WARN
        message = (f"{len(rejected)} spooled dead letter(s) cannot be read, kept in {folder}/rejected ({first}: "
                   f"{why}); repair and move back, or delete")
    else:
        status, message = OK, f"dead-letter spool drained ({moved} moved in)"
    return HealthFinding(check="dead_letter_spool", subject="platform", status=status, value=float(len(rejected)),
                         message=message, data=data)


CHAMPION_UNKNOWN = "unknown"
"""``judge_endpoint``'s champion when MLflow could not be asked."""


def judge_endpoint(endpoint: str, model: str, url: str | None, answer: dict[str, Any] | None, error: str | None,
                   champion: str | None) -> HealthFinding:
    """A model endpoint: answering, and serving the champion (or nothing while there is none).

    ``answer`` is what ``/version`` answered (``{"version": None}`` for a server up without a model), None when
    the server did not answer at all; ``url`` is None when no server is configured for the endpoint. ``champion``
    is ``CHAMPION_UNKNOWN`` when MLflow did not answer: what is served is then not judged (neither an alert nor a
    recovery), only whether the endpoint answers.
    """
    served = (answer or {}).get("version")
    unknown = champion == CHAMPION_UNKNOWN
    data = {"url": url, "answering": answer is not None, "served_version": served,
            "champion_version": None if unknown else champion, "error": error}
    if unknown and url is not None and answer is not None:
        data["judged"] = False  # keeps its previous status (``store``): an outage of MLflow announces no recovery
        return HealthFinding(check="endpoint", subject=endpoint, model=model, status=OK, data=data,
                             message=f"{endpoint} answers (v{served}); MLflow did not say which version is champion")
    champion = None if unknown else champion
    if url is None:
        status, message = ALERT, f"{endpoint} ({model}) has no server: {error}"
    elif answer is None:
        status, message = ALERT, f"{endpoint} ({model}) does not answer at {url}: {error}"
    elif served is None and champion is not None:
        status, message = ALERT, f"{endpoint} answers but serves no model, the champion is v{champion}: {error}"
    elif champion is not None and str(served) != str(champion):
        status, message = ALERT, f"{endpoint} serves {model} v{served}, but the champion is v{champion}"
    else:
        status = OK
        message = (f"{endpoint} serves {model} v{served} (the champion)" if champion
                   else f"{endpoint} answers; {model} has no champion yet")
    return HealthFinding(check="endpoint", subject=endpoint, model=model, status=status, message=message, data=data)


def _age(delta: dt.timedelta) -> str:
    minutes = delta.total_seconds() / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"
