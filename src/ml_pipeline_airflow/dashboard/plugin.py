"""``MlPlatformPlugin``: the dashboard and the lineage receiver, mounted in Airflow's API server.

Registered by the ``airflow.plugins`` entry point (pyproject.toml). ``fastapi_apps`` mounts the OpenLineage
receiver at ``/ml-platform/api`` (token-authenticated: OpenLineage clients hold no Airflow login; listed first, as
Starlette tries mounts in order and the dashboard's app would otherwise answer for its path) and the dashboard at
``/ml-platform``; ``external_views`` puts "ML models" and "ML platform" in the navigation and an "ML model" tab on
every DAG's page (``{DAG_ID}`` is filled in by the UI), each shown inside Airflow's own frame. In the API server
only, a third app without routes builds the Task Execution API's routes as each worker starts (``warmup.py``).
"""

from __future__ import annotations

import sys
from typing import Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ml-platform"


def base_path() -> str:
    """The path Airflow's UI is served under (``[api] base_url`` without scheme and host), without a final slash."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class LazyApp:
    """An ASGI app built on its first request by ``factory`` (a ``module:function`` path).

    Airflow loads every plugin in every task process (for their macros); building a FastAPI app there would import
    the API server's security stack (~0.9 s) into each task for nothing.
    """

    def __init__(self, factory: str) -> None:
        """Remember which function builds the app."""
        self._factory, self._app = factory, None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Serve one ASGI event with the app, built the first time."""
        if self._app is None:
            import importlib

            module, function = self._factory.split(":")
            self._app = getattr(importlib.import_module(module), function)()
        await self._app(scope, receive, send)


def external_views(prefix: str) -> list[dict[str, str]]:
    """The navigation entries and the per-DAG tab, pointing into the app mounted at ``prefix``."""
    return [
        {"name": "ML models", "href": f"{prefix}/models", "destination": "nav", "url_route": "ml-models",
         "category": "browse"},
        {"name": "ML platform", "href": f"{prefix}/platform", "destination": "nav", "url_route": "ml-platform",
         "category": "browse"},
        {"name": "ML model", "href": f"{prefix}/dags/{{DAG_ID}}", "destination": "dag", "url_route": "ml-model"},
    ]


def startup_apps() -> list[dict[str, Any]]:
    """The warm-up app (``warmup.py``), while the API server builds its app; nothing in any other process.

    Airflow loads plugins in every task process too, where FastAPI is not imported and must not be for this.
    """
    if "airflow.api_fastapi.app" not in sys.modules:
        return []
    from ml_pipeline_airflow.dashboard.warmup import create_app

    # listed last, under the dashboard's prefix: the dashboard answers every request there, this app none
    return [{"app": create_app(), "url_prefix": f"{URL_PREFIX}/startup", "name": "ML platform API-server warm-up"}]


class MlPlatformPlugin(AirflowPlugin):
    """The ML platform's dashboard (Models, a page per model, Platform) and its OpenLineage receiver."""

    name = "ml_platform"
    fastapi_apps = [
        {"app": LazyApp("ml_pipeline_airflow.lineage.receiver:create_app"), "url_prefix": f"{URL_PREFIX}/api",
         "name": "ML platform lineage receiver"},
        {"app": LazyApp("ml_pipeline_airflow.dashboard.app:create_app"), "url_prefix": URL_PREFIX,
         "name": "ML platform dashboard"},
        *startup_apps(),
    ]
    external_views = external_views(base_path() + URL_PREFIX)
