"""A small client for Airflow 3's REST API (``/api/v2``), with a JWT from ``/auth/token``."""

from __future__ import annotations

import time
from typing import Any

import httpx


class AirflowApiError(RuntimeError):
    """The Airflow API answered with an error."""


class AirflowClient:
    """Authenticated calls to one Airflow API server."""

    def __init__(self, base_url: str, username: str, password: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call ``/api/v2{path}``; return the decoded JSON (or text for logs)."""
        for attempt in range(2):
            headers = {**self._headers(), **kwargs.get("headers", {})}
            response = self._http.request(method, f"/api/v2{path}", **{**kwargs, "headers": headers})
            if response.status_code == 401 and attempt == 0:
                self._token = None  # expired: log in again once
                continue
            if response.status_code >= 400:
                raise AirflowApiError(f"{method} {path} -> {response.status_code}: {response.text[:500]}")
            ctype = response.headers.get("content-type", "")
            return response.json() if "json" in ctype else response.text
        raise AirflowApiError(f"{method} {path}: unauthorized")

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> dict:
        """Wait until the dag-processor has parsed ``dag_id``; raise with its import error otherwise."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.request("GET", f"/dags/{dag_id}")
            except AirflowApiError:
                errors = self.request("GET", "/importErrors").get("import_errors", [])
                if time.monotonic() > deadline:
                    detail = "; ".join(e["stack_trace"][-400:] for e in errors) or "no import errors reported"
                    raise AirflowApiError(f"DAG {dag_id} not found after {timeout:.0f}s: {detail}") from None
                time.sleep(2)

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> dict:
        """Unpause ``dag_id`` and trigger a run with ``logical_date``; return the run."""
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        body = {"logical_date": logical_date, "conf": conf or {}}
        return self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)

    def run(self, dag_id: str, run_id: str) -> dict:
        """One DAG run."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Task instances of one run."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """A task's XCom value (deserialized)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"deserialize": "true"})["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A task attempt's log as text."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.request("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        events = content.get("content", []) if isinstance(content, dict) else [content]
        return "\n".join(e.get("event", str(e)) if isinstance(e, dict) else str(e) for e in events)

    def _headers(self) -> dict[str, str]:
        if self._token is None:
            response = self._http.post("/auth/token", json=self._credentials)
            if response.status_code >= 400:
                raise AirflowApiError(f"login failed ({response.status_code}): {response.text[:200]}")
            self._token = response.json()["access_token"]
        return {"Authorization": f"Bearer {self._token}"}
