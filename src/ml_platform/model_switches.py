"""A model config's ``enabled:``, applied to its DAGs when it changes on a running platform.

A model's DAGs are created paused or not by the config itself (``is_paused_upon_creation``, in
``dag_kinds.common``); Airflow ignores that flag once a DAG exists. So the supervisor remembers the ``enabled`` it
last applied to each model (``<home>/serving/enabled.json``) and, when a config's changes, pauses or unpauses all
of that model's DAGs through the REST API. Only a change is applied: a DAG paused by hand in the UI stays paused
until its model's ``enabled`` changes again. A model seen for the first time (at the platform's start, or added
later) is only recorded: its DAGs follow the config from their creation, an existing install's keep their state.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from ml_pipeline.config import ModelConfig
from ml_pipeline_airflow.dag_ids import model_dag_ids
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.secrets import write_private

log = logging.getLogger(__name__)


def switch_changes(configs: Iterable[ModelConfig], applied: dict[str, bool]) -> dict[str, bool]:
    """Model → ``enabled`` of the models whose ``enabled`` differs from the one last applied."""
    return {c.model_name: c.enabled for c in configs if c.model_name in applied and applied[c.model_name] != c.enabled}


def newly_seen(configs: Iterable[ModelConfig], applied: dict[str, bool]) -> dict[str, bool]:
    """The models never seen before, recorded as enabled: an enabled one's DAGs keep the state they have.

    A disabled one then counts as a change, so its DAGs are paused: harmless for DAGs created paused, and it pauses
    those a platform of an earlier release left running (a model shipped ``enabled: false`` since).
    """
    return {c.model_name: True for c in configs if c.model_name not in applied}


def apply_switch(client: AirflowClient, model_name: str, enabled: bool) -> list[str]:
    """Pause (``enabled`` false) or unpause every DAG of ``model_name``; return the dag ids changed.

    Raises:
        AirflowApiError: the API server refused or did not answer (the caller tries again later).
    """
    changed = []
    for dag_id in model_dag_ids(model_name):  # a kind that does not apply to the model has none: 404, ignored
        try:
            client.request("PATCH", f"/dags/{dag_id}", json={"is_paused": not enabled})
        except AirflowApiError as exc:
            if exc.status == 404:  # not parsed yet (it is created with the config's state) or not of this model
                continue
            raise
        changed.append(dag_id)
    return changed


def apply_changes(path: Path, configs: list[ModelConfig], client: Callable[[], AirflowClient]) -> None:
    """Apply every changed ``enabled`` of ``configs`` and record it in ``path`` (also what was applied on failure).

    Raises:
        AirflowApiError: the API server refused (the rest is applied at the next call).
        httpx.HTTPError: the API server did not answer.
    """
    applied = read_applied(path)
    applied.update(newly_seen(configs, applied))
    try:
        for model, enabled in switch_changes(configs, applied).items():
            changed = apply_switch(client(), model, enabled)
            log.info("%s is %s: %s %s", model, "enabled" if enabled else "disabled",
                     "unpaused" if enabled else "paused", ", ".join(changed) or "no DAG yet")
            applied[model] = enabled
    finally:
        write_applied(path, applied)


def record_new(path: Path, configs: list[ModelConfig]) -> bool:
    """At the platform's start: record the models never seen; whether an ``enabled`` is to be applied.

    The platform's first start records every model (``newly_seen``), so the first change of an ``enabled`` later is
    applied. True: a config changed while the platform was down, or a model seen for the first time is disabled; the
    caller applies it (``apply_changes``) once the API server answers.
    """
    applied = read_applied(path)
    new = newly_seen(configs, applied)
    if new or not path.exists():
        write_applied(path, {**applied, **new})
    return bool(switch_changes(configs, {**applied, **new}))


def read_applied(path: Path) -> dict[str, bool]:
    """Model → the ``enabled`` last applied to its DAGs (empty before the first)."""
    try:
        applied = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # ValueError: not JSON, or not UTF-8 (applied again, as if new)
        return {}
    # only true/false count: anything else ("false" written by hand) is as if not applied yet, so applied again
    return {name: value for name, value in applied.items() if isinstance(value, bool)} if isinstance(applied, dict) \
        else {}


def write_applied(path: Path, applied: dict[str, bool]) -> None:
    """Record what was applied (whole or not at all)."""
    write_private(path, json.dumps(applied, indent=2, sort_keys=True))
