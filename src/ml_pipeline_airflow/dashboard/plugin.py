"""``MlPlatformPlugin``: the dashboard mounted in Airflow's API server and linked from its navigation.

Registered by the ``airflow.plugins`` entry point (pyproject.toml). ``fastapi_apps`` mounts the app at
``/ml-platform``; ``external_views`` puts "ML models" and "ML platform" in the navigation and an "ML model" tab on
every DAG's page (``{DAG_ID}`` is filled in by the UI), each shown inside Airflow's own frame.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from airflow.configuration import conf
from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/ml-platform"


def base_path() -> str:
    """The path Airflow's UI is served under (``[api] base_url`` without scheme and host), without a final slash."""
    return urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")


class LazyDashboardApp:
    """The dashboard's ASGI app, built on its first request.

    Airflow loads every plugin in every task process (for their macros); building the FastAPI app there would import
    the API server's security stack (~0.9 s) into each task for nothing.
    """

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """Serve one ASGI event with the app, built the first time."""
        if self._app is None:
            from ml_pipeline_airflow.dashboard.app import create_app

            self._app = create_app()
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


class MlPlatformPlugin(AirflowPlugin):
    """The ML platform's dashboard: Models, a page per model, Platform."""

    name = "ml_platform"
    fastapi_apps = [{"app": LazyDashboardApp(), "url_prefix": URL_PREFIX, "name": "ML platform dashboard"}]
    external_views = external_views(base_path() + URL_PREFIX)
