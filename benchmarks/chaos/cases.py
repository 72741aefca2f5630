"""The chaos cases of the registry and the endpoint: each injects one fault into a running platform, measures what
it did and judges the goals.

Every case takes a ``ChaosPlatform`` (``tests/support/chaos.py``) and returns a ``Case``: its figures and its goals
(what was measured, the target, met or not). A goal missed is reported, never raised: the table shows it.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from mlflow import MlflowClient

from ml_pipeline.registry import mlflow_registry as registry
from tests.support.chaos import (
    DEPLOYMENT,
    ENDPOINT,
    MODEL,
    TRAINING,
    ChaosPlatform,
    Load,
    component,
    keep_down,
    kill_component,
    tries,
    wait_http,
    wait_restarted,
    wait_task_state,
)

MODEL_RETRY_DELAY_S, MODEL_MAX_DELAY_S = 5.0, 60.0  # tests/support/chaos.py's model config
DRILL_RETRY_DELAY_S, DRILL_MAX_DELAY_S = 2.0, 30.0  # ml_pipeline_airflow.drills


@dataclass
class Case:
    """One fault's figures and goals."""

    name: str
    fault: str
    figures: dict[str, Any] = field(default_factory=dict)
    goals: dict[str, dict] = field(default_factory=dict)

    def goal(self, name: str, measured: Any, target: str, met: bool) -> None:
        """Record a goal: what was measured, the target in words, whether it was met."""
        self.goals[name] = {"measured": measured, "target": target, "met": bool(met)}

    @property
    def met(self) -> bool:
        """Every goal met."""
        return all(g["met"] for g in self.goals.values())


def backoff_respected(task_tries: list[dict], base_s: float, cap_s: float, tolerance_s: float = 0.5) -> list[float]:
    """The gaps between a task's tries (s); empty when one is shorter than ``base_s`` doubled at each retry (at most
    ``cap_s``, the task's ``max_retry_delay``)."""
    gaps = [(dt.datetime.fromisoformat(b["start_date"]) - dt.datetime.fromisoformat(a["end_date"])).total_seconds()
            for a, b in zip(task_tries, task_tries[1:], strict=False) if a.get("end_date") and b.get("start_date")]
    short = any(gap < min(base_s * 2 ** k, cap_s) - tolerance_s for k, gap in enumerate(gaps))
    return [] if short else [round(g, 1) for g in gaps]


def retry_figures(client, dag_id: str, run_id: str) -> tuple[int, bool]:
    """Retries a run of the model's DAGs took, and whether each was made after its backoff."""
    by_task = tries(client, dag_id, run_id)
    retried = [t for t in by_task.values() if len(t) > 1]
    return sum(len(t) - 1 for t in retried), all(backoff_respected(t, MODEL_RETRY_DELAY_S, MODEL_MAX_DELAY_S)
                                                 for t in retried)


def train(p: ChaosPlatform, logical_date: str, timeout: float = 900) -> tuple[str, str]:
    """Trigger the model's training; its run id once it ran, and its final state."""
    run_id = p.client.trigger(TRAINING, logical_date)["dag_run_id"]
    return run_id, p.client.wait_for_run(TRAINING, run_id, timeout=timeout)


def versions_of_run(p: ChaosPlatform, run_id: str) -> list[str]:
    """Registry versions whose lineage names training run ``run_id``."""
    found = MlflowClient(p.layout.mlflow_url).search_model_versions(f"name='{MODEL}'")
    return sorted(v.version for v in found if v.tags.get("lineage.run_id") == run_id)


def register_copy(p: ChaosPlatform, version: str) -> str:
    """A new version of the same model files as ``version`` (a challenger without training one); its number."""
    mlflow = MlflowClient(p.layout.mlflow_url)
    source = mlflow.get_model_version(MODEL, version)
    return mlflow.create_model_version(MODEL, source.source, run_id=source.run_id, tags=source.tags,
                                       model_id=source.source.removeprefix("models:/"), await_creation_for=60).version


def make_champion(p: ChaosPlatform, version: str) -> None:
    """Set the champion alias (setup, not under test) and wait until the model server serves it."""
    MlflowClient(p.layout.mlflow_url).set_registered_model_alias(MODEL, registry.CHAMPION, version)
    from ml_pipeline.deployment.client import ServingClient

    ServingClient(p.serving_url, timeout=10).wait_healthy(300, version=version)


def mlflow_outage_during_training(p: ChaosPlatform, logical_date: str, outage_s: float = 60) -> Case:
    """MLflow killed for ``outage_s`` while the model trains: the run completes once, by retrying."""
    case = Case("mlflow_killed_during_training", f"MLflow SIGKILLed (and each restart) for {outage_s:.0f} s "
                                                 "while train_model runs")
    run_id = p.client.trigger(TRAINING, logical_date)["dag_run_id"]
    wait_task_state(p.client, TRAINING, run_id, "train_model", {"running", "success"}, timeout=600)
    kills = keep_down(p.layout, "mlflow", outage_s)
    back_s = wait_http(f"{p.layout.mlflow_url}/health", timeout=300)
    state = p.client.wait_for_run(TRAINING, run_id, timeout=900)
    retries, backoff = retry_figures(p.client, TRAINING, run_id)
    versions = versions_of_run(p, run_id)
    case.figures = {"run_id": run_id, "run_state": state, "mlflow_kills": kills,
                    "mlflow_down_s": round(outage_s + back_s, 1), "task_retries": retries,
                    "registered_versions": versions}
    case.goal("run_succeeded", state, "success", state == "success")
    case.goal("versions_registered", len(versions), "exactly 1", len(versions) == 1)
    case.goal("retries_after_backoff", backoff, "each retry after its backoff", backoff)
    return case


def model_server_killed(p: ChaosPlatform, before_s: float = 5, after_s: float = 5) -> Case:
    """The model server SIGKILLed under load: the supervisor restarts it; failures and recovery are measured."""
    name = f"serving-{ENDPOINT}"
    case = Case("model_server_killed", "model server SIGKILLed under load (one request every 50 ms)")
    restarts = component(p.layout, name)["restarts"]
    with Load(p.serving_url, p.sample_rows()) as load:
        time.sleep(before_s)
        killed_at, old = time.monotonic(), kill_component(p.layout, name)
        restarted_s = wait_restarted(p.layout, name, old)
        while time.monotonic() - killed_at < 180 and not (load.answers and load.answers[-1][1]):
            time.sleep(0.2)
        time.sleep(after_s)
    figures = load.figures(killed_at)
    case.figures = {**figures, "restarted_after_s": round(restarted_s, 2)}
    after = component(p.layout, name)["restarts"]
    case.goal("restarted_by_supervisor", after - restarts, "1 restart", after - restarts == 1)
    case.goal("time_to_recovery_s", figures["time_to_recovery_s"], "<= 60 s (one instance: measured, not hidden)",
              figures["time_to_recovery_s"] <= 60 and load.answers[-1][1])
    return case


def mlflow_outage_during_deployment(p: ChaosPlatform, challenger: str, champion: str, outage_s: float = 60) -> Case:
    """MLflow killed for ``outage_s`` while a challenger is deployed: the endpoint keeps answering, the run finishes
    by retrying, and the champion alias ends where the run's decision says."""
    case = Case("mlflow_killed_during_deployment", f"MLflow SIGKILLed (and each restart) for {outage_s:.0f} s while "
                                                   f"v{challenger} is judged and deployed, the endpoint under load")
    with Load(p.serving_url, p.sample_rows()) as load:
        run_id = p.client.trigger(DEPLOYMENT, None, conf={"version": challenger})["dag_run_id"]
        wait_task_state(p.client, DEPLOYMENT, run_id, "evaluate_challenger", {"running", "success"}, timeout=300)
        started = time.monotonic()
        kills = keep_down(p.layout, "mlflow", outage_s)
        back_s = wait_http(f"{p.layout.mlflow_url}/health", timeout=300)
        state = p.client.wait_for_run(DEPLOYMENT, run_id, timeout=900)
    states = {t["task_id"]: t["state"] for t in p.client.task_instances(DEPLOYMENT, run_id)}
    promoted = states.get("promote_challenger") == "success"
    alias = registry.alias_version(MlflowClient(p.layout.mlflow_url), MODEL, registry.CHAMPION)
    expected = challenger if promoted else champion
    retries, backoff = retry_figures(p.client, DEPLOYMENT, run_id)
    figures = load.figures(started)
    case.figures = {"run_id": run_id, "run_state": state, "outcome": "promoted" if promoted else "not promoted",
                    "mlflow_kills": kills, "mlflow_down_s": round(outage_s + back_s, 1), "task_retries": retries,
                    "champion_after": alias.version if alias else None, **figures}
    case.goal("failed_requests", figures["failed_requests"], "0", figures["failed_requests"] == 0)
    case.goal("run_finished", state, "success", state == "success")
    case.goal("champion_alias", case.figures["champion_after"], f"v{expected} (the run's own decision)",
              case.figures["champion_after"] == expected)
    case.goal("retries_after_backoff", backoff, "each retry after its backoff", backoff)
    return case

