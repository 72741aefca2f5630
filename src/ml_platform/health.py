"""Health of a running platform as its services report it: MLflow, Airflow's components, the model servers."""

from __future__ import annotations

import httpx

from ml_platform.layout import Layout

AIRFLOW_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def platform_health(layout: Layout) -> dict[str, bool]:
    """Whether MLflow and each Airflow component report healthy (all ``False`` while nothing answers)."""
    result = dict.fromkeys(("mlflow", *AIRFLOW_COMPONENTS), False)
    try:
        result["mlflow"] = httpx.get(f"{layout.mlflow_url}/health", timeout=5).status_code == 200
        body = httpx.get(f"{layout.airflow_url}/api/v2/monitor/health", timeout=5).json()
        for key in AIRFLOW_COMPONENTS:
            result[key] = (body.get(key) or {}).get("status") == "healthy"
    except (httpx.HTTPError, ValueError):
        pass
    return result


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
    served = body.get("model")
    if model and served != model:
        return f"WRONG SERVER: port {port} answers for {served!r}, not {model!r}"
    says = (f"serving {served} v{body['version']}" if body.get("status") == "ok"
            else f"{served}: no model: {body.get('reason')}")
    return f"{says}; {prediction_log_summary(body.get('prediction_log'))}"


def prediction_log_summary(stats: dict | None) -> str:
    """A model server's prediction log in one phrase: rows written, spilled (waiting on disk), dropped."""
    if stats is None:
        return "prediction log off"
    summary = (f"prediction log {stats.get('written_rows', 0)} written, {stats.get('spilled_rows', 0)} spilled, "
               f"{stats.get('dropped_rows', 0)} dropped")
    return summary + (f" (last error: {stats['last_error']})" if stats.get("last_error") else "")
