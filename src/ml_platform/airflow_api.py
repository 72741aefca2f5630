"""The platform commands' client of Airflow 3's REST API (``/api/v2``): waits, triggers, logs.

``AirflowApiError`` is re-exported from ``ml_pipeline_airflow.api_client``, the client that tasks use too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ml_pipeline_airflow.api_client import AirflowApiError, AirflowRestClient

__all__ = ["AirflowApiError", "AirflowClient"]


class AirflowClient(AirflowRestClient):
    """Authenticated calls to one Airflow API server, and the waits the platform's commands need."""

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

    def trigger(self, dag_id: str, logical_date: str | None, conf: dict | None = None) -> dict:
        """Trigger a run with ``logical_date``, then unpause ``dag_id`` so that it starts; return the run.

        In that order: a run Airflow refuses (a conf parameter out of its schema) leaves the DAG as it was.
        """
        body = {"logical_date": logical_date, "conf": conf or {}}
        run = self.request("POST", f"/dags/{dag_id}/dagRuns", json=body)
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        return run

    def unpause(self, dag_id: str) -> None:
        """Let the scheduler start ``dag_id`` (by its schedule or its assets)."""
        self.request("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def wait_for_new_run(self, dag_id: str, known: set[str], run_type: str, timeout: float = 300.0) -> dict:
        """Wait until a run of ``run_type`` not in ``known`` (run ids) appears, e.g. one an asset event started."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for run in self.request("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]:
                if run["run_type"] == run_type and run["dag_run_id"] not in known:
                    return run
            time.sleep(1)
        raise AirflowApiError(f"no new {run_type} run of {dag_id} within {timeout:.0f}s")

    def reparse_dag_files(self) -> list[str]:
        """Ask the dag-processor to parse every file that holds a DAG now, ahead of its interval; return the files.

        Each file once (its ``file_token`` from ``/dags``); a 409 means it is asked already and not parsed yet.
        """
        tokens: dict[str, str] = {}
        for dag in self.pages("/dags", "dags"):
            tokens.setdefault(dag["relative_fileloc"], dag["file_token"])
        for token in tokens.values():
            try:
                self.request("PUT", f"/parseDagFile/{token}")
            except AirflowApiError as exc:
                if exc.status != 409:
                    raise
        return sorted(tokens)

    def run_ids(self, dag_id: str) -> set[str]:
        return {run["dag_run_id"] for run in self.request("GET", f"/dags/{dag_id}/dagRuns")["dag_runs"]}

    def dag_params(self, dag_id: str) -> dict:
        """The params a DAG declares (name → its Param's spec)."""
        return self.request("GET", f"/dags/{dag_id}/details").get("params") or {}

    def run(self, dag_id: str, run_id: str) -> dict:
        """One DAG run."""
        return self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1800.0,
                     on_task_change: Callable[[float, dict], None] | None = None) -> str:
        """Poll until the run succeeds or fails; report task state changes; return the final state."""
        t0, seen = time.monotonic(), {}
        while time.monotonic() - t0 < timeout:
            if on_task_change:
                for ti in self.task_instances(dag_id, run_id):
                    key = (ti["task_id"], ti.get("map_index", -1))
                    if seen.get(key) != ti["state"]:
                        seen[key] = ti["state"]
                        on_task_change(time.monotonic() - t0, ti)
            state = self.run(dag_id, run_id)["state"]
            if state in ("success", "failed"):
                return state
            time.sleep(2)
        return "timeout"

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Task instances of one run, every page of them (a mapped task may have hundreds)."""
        found: list[dict] = []
        while True:
            page = self.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                                params={"limit": 100, "offset": len(found)})
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page.get("total_entries", 0):
                return found

    def downstream(self, dag_id: str, task_id: str) -> set[str]:
        """The tasks that run after ``task_id`` in ``dag_id``, directly or not."""
        after = {t["task_id"]: set(t.get("downstream_task_ids") or []) for t in
                 self.request("GET", f"/dags/{dag_id}/tasks")["tasks"]}
        found, todo = set(), list(after.get(task_id, ()))
        while todo:
            if (task := todo.pop()) not in found:
                found.add(task)
                todo.extend(after.get(task, ()))
        return found

    def task_instance(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> dict:
        """One task instance (``map_index`` picks one of a mapped task's)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        return self.request("GET", path + (f"/{map_index}" if map_index >= 0 else ""))

    def clear_task(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1, note: str | None = None) -> dict:
        """Clear one task instance and every task after it that did not succeed, so the scheduler runs them again.

        A task after it that was skipped or failed because of it (a rollback skipped when the failed step never
        promoted) runs again with it; one that succeeded (a rollback that ran) is kept, as with only failed tasks
        cleared. A running task is refused (409), and the clear is never asked twice: after a lost answer a second one
        would restart what the first set going. ``note`` is set on the cleared task instances (the UI shows it).
        """
        after = self.downstream(dag_id, task_id)
        tasks: list = [[task_id, map_index] if map_index >= 0 else task_id]
        tasks += [[ti["task_id"], ti["map_index"]] if ti.get("map_index", -1) >= 0 else ti["task_id"]
                  for ti in self.task_instances(dag_id, run_id) if ti["task_id"] in after and ti["state"] != "success"]
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": tasks, "only_failed": False,
                "include_downstream": False, "reset_dag_runs": True, "prevent_running_task": True}
        if note:
            body["note"] = note[:1000]
        return self.request("POST", f"/dags/{dag_id}/clearTaskInstances", idempotent=False, json=body)

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value", map_index: int = -1) -> Any:
        """A task's XCom value (deserialized); ``map_index`` picks one mapped task instance."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self.request("GET", path, params={"deserialize": "true", "map_index": map_index})["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A task attempt's log as text."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        content = self.request("GET", path, params={"full_content": "true"}, headers={"Accept": "application/json"})
        events = content.get("content", []) if isinstance(content, dict) else [content]
        return "\n".join(_render_log_event(e) for e in events)


def _render_log_event(event: Any) -> str:
    """One structured log event as text, with the exception type and message of a failure."""
    if not isinstance(event, dict):
        return str(event)
    line = " ".join(str(event[k]) for k in ("timestamp", "level", "event") if event.get(k))
    for error in event.get("error_detail") or []:
        line += f"\n    {error.get('exc_type')}: {error.get('exc_value')}"
    return line
