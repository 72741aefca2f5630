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


def serving_health(port: int) -> str:
    """What a model server says of itself: the version it serves (or why none), and its prediction log's counters."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"not answering ({type(exc).__name__})"
    says = f"serving v{body['version']}" if body.get("status") == "ok" else f"no model: {body.get('reason')}"
    return f"{says}; {prediction_log_summary(body.get('prediction_log'))}"


def prediction_log_summary(stats: dict | None) -> str:
    """A model server's prediction log in one phrase: rows written, spilled (waiting on disk), dropped."""
    if stats is None:
        return "prediction log off"
    summary = (f"prediction log {stats.get('written_rows', 0)} written, {stats.get('spilled_rows', 0)} spilled, "
               f"{stats.get('dropped_rows', 0)} dropped")
    return summary + (f" (last error: {stats['last_error']})" if stats.get("last_error") else "")
