"""What every task, operator and sensor needs at run time: the run's context for the core, and failures classified.

Shared by every role folder (tasks, operators, sensors, drills), so it lives in none of them. Heavy libraries are
imported inside the functions: DAG files import this module when they are parsed.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from ml_pipeline.errors import PermanentError, TransientError

if TYPE_CHECKING:
    from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)
PARTITION_LABEL = "{{ partition }}"
"""``map_index_template`` of a task mapped over partitions: the UI shows the value ``label_partition`` set."""


def run_context(config_path: str) -> RunContext:
    """Describe the current Airflow run to the core: config, date, lake, tracking server."""
    from ml_pipeline.config import load_model_config
    from ml_pipeline.data.lake import parse_uri_map, to_uri
    from ml_pipeline.pipelines.context import RunContext
    from ml_pipeline_airflow.hooks.feature_store import FeatureStoreHook
    from ml_pipeline_airflow.hooks.mlflow import MlflowHook

    context = get_current_context()
    refuse_unknown_conf(context)
    dag_run = context["dag_run"]
    lake = os.environ.get("ML_LAKE_URI")
    if not lake:
        raise RuntimeError("ML_LAKE_URI is not set: point it at the data lake root (file://… or s3://…)")
    config = load_model_config(config_path)
    return RunContext(config, Path(config_path), run_date(context), to_uri(lake),
                      MlflowHook().tracking_uri, dag_run.dag_id, dag_run.run_id,
                      uri_map=parse_uri_map(os.environ.get("ML_DATA_URI_MAP")),
                      feature_store=FeatureStoreHook().settings if config.uses_feature_store else None,
                      trigger=run_trigger(context))


def refuse_unknown_conf(context: Any) -> None:
    """Fail the run (``PermanentError``) when its conf names a key the DAG does not declare as a parameter.

    Airflow keeps such keys without a word, so a misspelt one (``acton: rollback``, ``date`` on a DAG that has no
    date parameter) would run the default silently.
    """
    import difflib

    declared = {*(getattr(context.get("dag"), "params", None) or {}), *(getattr(context.get("task"), "params", None)
                                                                        or {})}
    unknown = sorted(set(getattr(context["dag_run"], "conf", None) or {}) - declared)
    if not unknown:
        return
    guesses = [f"{key!r} (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(key, declared, 1))
               else repr(key) for key in unknown]
    takes = f"its parameters are {', '.join(sorted(declared))}" if declared else "it takes no conf"
    raise PermanentError(f"the run's conf names {', '.join(guesses)}, which {context['dag_run'].dag_id} does not "
                         f"know: {takes}. Trigger it again without them (nothing was done).")


def run_date(context: Any) -> dt.date:
    """The last day of the run's data window.

    For a run started by feature asset events, the newest day those events computed; otherwise the run's logical
    date (or, without one, when it was due).
    """
    from ml_pipeline_airflow.asset_events import event_days

    dag_run = context["dag_run"]
    if dag_run.run_type == "asset_triggered" and (days := event_days(context)):
        return max(days)
    return (dag_run.logical_date or dag_run.run_after).date()


def run_trigger(context: Any) -> str:
    """What started the run: ``schedule``, ``manual``, or for an asset-triggered run what its events say.

    A monitoring check's retraining request carries its cause (``drift``/``decay``) as the event's ``trigger``;
    a feature update carries none (``features``).
    """
    dag_run = context["dag_run"]
    run_type = str(getattr(dag_run.run_type, "value", dag_run.run_type))  # ``dag.test()`` gives the enum itself
    if run_type != "asset_triggered":
        return {"scheduled": "schedule"}.get(run_type, run_type)
    from ml_pipeline_airflow.asset_events import event_causes

    return "+".join(event_causes(context)) or "features"


def run_step(step: Callable[..., Any], config_path: str, *results: Any, step_name: str | None = None) -> Any:
    """Run one core step for the current run, its failures classified (``run_classified``); emit its lineage.

    What the step read and wrote is emitted as an OpenLineage event of the task (``lineage.emit``), known by the
    step's function name, or ``step_name`` for a wrapper or a lambda. Lineage never fails the step.
    """
    name = step_name or getattr(step, "__name__", "")

    def call() -> Any:
        from ml_pipeline_airflow.lineage.emit import emit_step_lineage

        ctx = run_context(config_path)
        try:
            result = step(ctx, *results)
        except Exception:
            emit_step_lineage(name, ctx, results, None)  # a failed validation still wrote reports, quarantine
            raise
        emit_step_lineage(name, ctx, results, result)
        return result

    return run_classified(call)


def skip_if_trained_before(config_path: str, loaded: Any, features: Any) -> None:
    """Skip the training task (and all that follows) when a version already learned exactly the run's inputs.

    Only a run started by an event (features, drift, decay, the clock) is skipped; its inputs are the data, the
    features, the config, the code and the libraries (``ml_pipeline.pipelines.training.trained_before``). A
    retraining request (drift, decay) that trains nothing is answered on the model's channels: its alert said
    "retraining requested".
    """
    from ml_pipeline.pipelines import training

    learned = run_step(training.trained_before, config_path, loaded, features)
    if learned:
        log.info("%s", learned.reason)
        if learned.answers_a_request:  # its alert said "retraining requested": the skip stands whatever is sent
            from ml_pipeline_airflow.notifications.announcements import announce_from_task, learned_before_note

            announce_from_task(config_path, lambda _, airflow, mlflow: learned_before_note(learned, airflow, mlflow),
                               learned.version)
        raise AirflowSkipException(learned.reason)


def run_classified(call: Callable[[], Any]) -> Any:
    """Call ``call``; classify what it raises so that only transient failures are retried.

    A ``PermanentError`` (bad data or config, a failed gate, a model that cannot load) fails the task at once
    (``AirflowFailException``); a transient failure (``TransientError``, or what the classification finds
    transient: network, timeout, HTTP 429/5xx) is raised as ``TransientError``, which the tasks' retry policy
    retries with backoff; anything else (a bug) is re-raised and fails at once through the same policy.

    Args:
        call: The work, without arguments.

    Returns:
        What ``call`` returns.
    """
    from ml_pipeline.failures.classification import is_transient, one_line

    try:
        return call()
    except PermanentError as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    except TransientError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(one_line(exc, limit=2000)) from exc
        raise


def label_partition(partition: str | None) -> None:
    """Show a mapped task's partition value in the UI instead of its bare map index."""
    get_current_context()["partition"] = partition or ""


def announce_version(context, registered: dict) -> None:
    """Give each outlet of the running task (the model's challenger asset) the registered version as its event.

    That event starts the model's deployment DAG.
    """
    for outlet in context["outlets"]:
        context["outlet_events"][outlet].extra = {"model": registered["model_name"], "version": registered["version"]}
