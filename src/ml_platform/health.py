"""Health of a running platform as its services report it: MLflow, Airflow, Celery workers, model servers."""

from __future__ import annotations

from collections.abc import Iterable

import httpx

from ml_platform.components import REDIS_URL, celery_node
from ml_platform.layout import Layout

AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
# how long the Celery workers have to answer a ping through the broker
CELERY_PING_TIMEOUT_S = 2.0


def platform_health(layout: Layout, celery_workers: Iterable[str] = ()) -> dict[str, bool]:
    """Whether MLflow, each Airflow component and each of ``celery_workers`` (their component names) report healthy.

    All ``False`` while nothing answers.
    """
    result = dict.fromkeys(("mlflow", *AIRFLOW_COMPONENTS), False)
    try:
        result["mlflow"] = httpx.get(f"{layout.mlflow_url}/health", timeout=5).status_code == 200
        body = httpx.get(f"{layout.airflow_url}/api/v2/monitor/health", timeout=5).json()
        for key in AIRFLOW_COMPONENTS:  # whatever else answers on the port (a body of another shape): unhealthy
            component = body.get(key) if isinstance(body, dict) else None
            result[key] = isinstance(component, dict) and component.get("status") == "healthy"
    except (httpx.HTTPError, ValueError):
        pass
    return {**result, **celery_workers_answer(layout, celery_workers)}


def celery_workers_answer(layout: Layout, workers: Iterable[str]) -> dict[str, bool]:
    """Whether each Celery worker (component name) answers a ping through the broker, ``ML_PLATFORM_REDIS_URL``.

    Airflow's health report does not cover Celery workers. A worker answers once it consumes tasks: after its preload
    and after it forked its pool (``celery inspect ping``, the official Helm chart's liveness probe). None answers
    while the broker is down.
    """
    nodes = {celery_node(layout, name): name for name in workers}
    if not nodes:
        return {}
    from celery import Celery  # only where the platform runs Celery workers
    from celery.utils.nodenames import host_format
    from kombu.exceptions import OperationalError

    nodes = {host_format(node): name for node, name in nodes.items()}
    app = Celery(broker=REDIS_URL, set_as_current=False)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=0)  # a broker that is down is said at once (kombu: 6 s)
            replies = app.control.ping(destination=list(nodes), timeout=CELERY_PING_TIMEOUT_S, limit=len(nodes),
                                       connection=connection)
    except OperationalError:
        replies = []
    finally:
        app.close()
    answered = {node for reply in replies for node in reply}
    return {name: node in answered for node, name in nodes.items()}


def serving_health(port: int, admin_token: str | None = None, model: str | None = None) -> str:
    """What a model server says of itself: the model and version it serves (or why none), its prediction log.

    ``admin_token`` (the platform's ``serving_admin_token``) is sent as ``Authorization: Bearer``. With ``model``
    (the one the endpoint's config names), a server that answers for another model says so: a port taken by
    something else.
    """
    headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/health", headers=headers, timeout=5).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"not answering ({type(exc).__name__})"
    if not isinstance(body, dict) or "model" not in body:  # something other than a model server took the port
        return f"WRONG SERVER: port {port} answers /health with no model server's report: {str(body)[:80]!r}"
    served = body.get("model")
    if model and served != model:
        return f"WRONG SERVER: port {port} answers for {served!r}, not {model!r}"
    says = (f"serving {served} v{body.get('version')}" if body.get("status") == "ok"
            else f"{served}: no model: {body.get('reason')}")
    log = body.get("prediction_log")
    return f"{says}; {prediction_log_summary(log if isinstance(log, dict) else None)}"


def prediction_log_summary(stats: dict | None) -> str:
    """A model server's prediction log in one phrase: rows written, spilled (waiting on disk), dropped."""
    if stats is None:
        return "prediction log off"
    summary = (f"prediction log {stats.get('written_rows', 0)} written, {stats.get('spilled_rows', 0)} spilled, "
               f"{stats.get('dropped_rows', 0)} dropped")
    return summary + (f" (last error: {stats['last_error']})" if stats.get("last_error") else "")
