"""The dashboard's FastAPI app: three server-rendered pages behind Airflow's own authentication.

Mounted apps get no authentication from the API server: every route here depends on ``requires_access_dag("GET")``
(``airflow.api_fastapi.core_api.security``), which reads the JWT from the ``Authorization`` header or, in a browser,
Airflow's ``_token`` cookie, and asks the auth manager whether the user may read DAGs (the one under
``/dags/{dag_id}``: that DAG). A request without a valid token is refused (401, 403) with a page that links to the
login. Pages read the platform database (connection ``ml_platform_db``) and the newest training runs from Airflow's
REST API with the caller's own token; a store that cannot be read gives a page that says so, never a 500.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from functools import cache
from html import escape

from airflow.api_fastapi.core_api.security import requires_access_dag
from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException

from ml_pipeline_airflow.dashboard.plugin import URL_PREFIX, base_path

log = logging.getLogger(__name__)


def create_app() -> FastAPI:
    """The app ``MlPlatformPlugin`` mounts at ``URL_PREFIX``: every route needs a user who may read DAGs."""
    app = FastAPI(title="ML platform dashboard",
                  dependencies=[Depends(_no_dag_id_in_query), Depends(requires_access_dag(method="GET"))],
                  docs_url=None, redoc_url=None, openapi_url=None)
    app.add_exception_handler(HTTPException, _refused)
    app.add_api_route("/", _home, methods=["GET"], include_in_schema=False)
    app.add_api_route("/models", models, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/models/{model}", model, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/platform", platform, methods=["GET"], response_class=HTMLResponse)
    app.add_api_route("/dags/{dag_id}", dag, methods=["GET"], include_in_schema=False)
    return app


def _no_dag_id_in_query(request: Request) -> None:
    """Refuse ``?dag_id=`` (400).

    Airflow's ``requires_access_dag`` reads it, and would then ask only whether the user may read that one DAG
    instead of DAGs in general, while the pages show every model.
    """
    if "dag_id" in request.query_params:
        raise HTTPException(400, "the dashboard takes no dag_id query parameter")


def _home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{_root(request)}/models", status_code=307)


def models(request: Request) -> HTMLResponse:
    """The Models page: one row per configured model."""
    from ml_pipeline.dashboard import content, pages
    from ml_pipeline_airflow.dashboard import sources

    return _page(request, "Models", lambda links, now, notes: pages.models_page(
        content.model_rows(sources.reader(), sources.models(), sources.last_runs(request, notes), now),
        links, now, notes))


def model(request: Request, model: str) -> HTMLResponse:
    """A model's page: drift per feature, live metrics, deployments, lineage, alerts, the latest report."""
    from ml_pipeline.dashboard import content, pages
    from ml_pipeline_airflow.dashboard import sources

    configured = sources.models()
    if model not in configured.configs:
        return HTMLResponse(pages.message_page("Unknown model", f"no model config names {model!r}; known: "
                                               f"{', '.join(sorted(configured.configs))}", _links(request),
                                               _now(), status="alert"), status_code=404)

    def draw(links, now, notes):
        row, detail = content.model_detail(sources.reader(), configured, model,
                                           sources.last_runs(request, notes), now)
        detail["lineage"] = content.model_lineage(sources.lineage_events(model, notes), model, row.champion)
        return pages.model_page(model, row, detail, links, now, notes)

    return _page(request, model, draw)


def platform(request: Request) -> HTMLResponse:
    """The Platform page: DAG success rates and durations, SLA misses, stuck work, component health."""
    from ml_pipeline.dashboard import content, pages
    from ml_pipeline_airflow.dashboard import sources

    return _page(request, "Platform", lambda links, now, notes: pages.platform_page(
        content.platform_content(sources.reader(), now), links, now, notes))


def dag(request: Request, dag_id: str) -> RedirectResponse:
    """A DAG's tab in Airflow's UI: the page of the model the DAG belongs to, else the Platform page."""
    from ml_pipeline_airflow.dashboard import sources

    owner = sources.model_of_dag(dag_id)
    target = f"/models/{owner}" if owner else "/platform"
    return RedirectResponse(f"{_root(request)}{target}", status_code=307)


def _page(request: Request, title: str, draw) -> HTMLResponse:
    """Draw a page; a store that cannot be read (database down, tables missing) gives a page saying so (503)."""
    from ml_pipeline.dashboard import pages

    links, now, notes = _links(request), _now(), []
    try:
        return HTMLResponse(draw(links, now, notes))
    except Exception as exc:  # any failure of a store: the page says what and where, the log has the traceback
        log.exception("dashboard page %s failed", request.url.path)
        return HTMLResponse(pages.message_page(title, f"The platform database cannot be read: "
                                               f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}",
                                               links, now, status="alert"), status_code=503)


async def _refused(request: Request, exc: HTTPException) -> Response:
    """401/403 as a page with a link to Airflow's login (status kept); other errors as FastAPI answers them."""
    if exc.status_code not in (401, 403):
        return await http_exception_handler(request, exc)
    from airflow.api_fastapi.app import get_auth_manager

    login = get_auth_manager().get_url_login(next_url=str(request.url))
    body = (f"<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in</title></head><body>"
            f"<h1>Not signed in</h1><p>{escape(str(exc.detail))}. <a href=\"{escape(base_path() + login)}\">"
            "Sign in to Airflow</a>"
            "</p></body></html>")
    return HTMLResponse(body, status_code=exc.status_code)


def _root(request: Request) -> str:
    """The app's own URL path (the API server's root path and the mount prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/") or URL_PREFIX


def _links(request: Request):
    from ml_pipeline.dashboard.pages import Links

    return Links(dashboard=_root(request), airflow=base_path(), mlflow=_mlflow_ui())


@cache
def _mlflow_ui() -> str:
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    return uri.rstrip("/") if uri.startswith(("http://", "https://")) else ""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
