"""A client of Airflow 3's REST API (``/api/v2``), free of Airflow imports (the platform's commands use it too).

``AirflowRestClient`` logs in at ``/auth/token`` and calls the API with the JWT (once more after a 401: the token
expired). An idempotent call (GET, PUT, PATCH, DELETE) is asked again, twice at most, after a 500/502/503/504: Airflow
answers 500 when its write lost a PostgreSQL deadlock against the scheduler, and 502-504 while a worker restarts. A
POST (a trigger) is repeated only when its caller says it is idempotent: it may have happened.
Tasks reach it through ``hooks.airflow_api.AirflowApiHook``; the platform's commands through
``ml_platform.airflow_api.AirflowClient``, which builds on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

PAGE = 100  # Airflow's [api] maximum_page_limit
IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "PATCH", "DELETE"})
RETRIED_STATUS = frozenset({500, 502, 503, 504})
RETRY_DELAYS_S = (0.5, 1.5)  # before the second and the third try of an idempotent call


class AirflowApiError(RuntimeError):
    """The Airflow API answered with an error (``status``: its HTTP status)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AirflowRestClient:
    """Authenticated calls to one Airflow API server."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def request(self, method: str, path: str, *, idempotent: bool | None = None, **kwargs: Any) -> Any:
        """Call ``/api/v2{path}``; return the decoded JSON (or text for logs).

        ``idempotent``: whether asking again after a server error is safe (default: by the method; a POST that
        changes nothing the second time says ``True``).
        """
        method = method.upper()
        delays = list(RETRY_DELAYS_S) if (method in IDEMPOTENT if idempotent is None else idempotent) else []
        logged_in_again = False
        while True:
            headers = {**self._headers(), **kwargs.get("headers", {})}
            response = self._http.request(method, f"/api/v2{path}", **{**kwargs, "headers": headers})
            if response.status_code == 401 and not logged_in_again:
                self._token, logged_in_again = None, True  # expired: log in again once
                continue
            if response.status_code in RETRIED_STATUS and delays:
                time.sleep(delays.pop(0))
                continue
            if response.status_code >= 400:
                raise AirflowApiError(f"{method} {path} -> {response.status_code}: {response.text[:500]}",
                                      response.status_code)
            if response.status_code == 204 or not response.content:
                return None
            ctype = response.headers.get("content-type", "")
            return response.json() if "json" in ctype else response.text

    def pages(self, path: str, key: str, params: dict[str, Any] | None = None) -> Iterator[dict]:
        """Every item of a paginated list (``key``: the list's field, e.g. ``dag_runs``), page by page."""
        offset = 0
        while True:
            page = self.request("GET", path, params={**(params or {}), "limit": PAGE, "offset": offset})
            items = page.get(key, [])
            yield from items
            offset += len(items)
            total = page.get("total_entries")
            if not items or (offset >= total if total is not None else len(items) < PAGE):
                return

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = self._http.post("/auth/token", json=self._credentials)
            if response.status_code >= 400:
                raise AirflowApiError(f"login failed ({response.status_code}): {response.text[:200]}")
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}
