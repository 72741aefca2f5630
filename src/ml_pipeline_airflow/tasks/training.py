"""The training pipeline's tasks. Heavy libraries are imported inside each task.

XCom carries only what the core steps return: URIs, ids and metrics. Bad data and
bad config fail the task at once: retrying cannot fix them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

if TYPE_CHECKING:
    from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)


def run_context(config_path: str) -> RunContext:
    """Describe the current Airflow run to the core: config, date, lake, tracking server."""
    from ml_pipeline.config import load_model_config
    from ml_pipeline.data.lake import parse_uri_map, to_uri
    from ml_pipeline.pipelines.context import RunContext
    from ml_pipeline_airflow.hooks.feature_store import FeatureStoreHook
    from ml_pipeline_airflow.hooks.mlflow import MlflowHook

    context = get_current_context()
    dag_run = context["dag_run"]
    lake = os.environ.get("ML_LAKE_URI")
    if not lake:
        raise RuntimeError("ML_LAKE_URI is not set: point it at the data lake root (file://… or s3://…)")
    config = load_model_config(config_path)
    return RunContext(config, Path(config_path), run_date(context), to_uri(lake),
                      MlflowHook().tracking_uri, dag_run.dag_id, dag_run.run_id,
                      uri_map=parse_uri_map(os.environ.get("ML_DATA_URI_MAP")),
                      feature_store=FeatureStoreHook().settings if config.uses_feature_store else None)


def run_date(context) -> dt.date:
    """The last day of the run's data window: for a run started by feature asset events, the newest day those
    events computed; otherwise the run's logical date (or, without one, when it was due)."""
    dag_run = context["dag_run"]
    if dag_run.run_type == "asset_triggered":
        days = [day for events in context["triggering_asset_events"].values() for event in events
                for day in (event.extra or {}).get("days", [])]
        if days:
            return max(dt.date.fromisoformat(day) for day in days)
    return (dag_run.logical_date or dag_run.run_after).date()


def run_step(step: Callable[..., Any], config_path: str, *results: Any) -> Any:
    """Run one core step for the current run, its failures classified (``run_classified``)."""
    return run_classified(lambda: step(run_context(config_path), *results))


def run_classified(call: Callable[[], Any]) -> Any:
    """Call ``call``; classify what it raises so that only transient failures are retried.

    Bad data or config fails at once (``AirflowFailException``); a transient failure (network, timeout,
    HTTP 429/5xx, a partition not landed yet) is re-raised as ``TransientError``, which the tasks' retry
    policy retries with backoff; anything else (a bug) fails at once through the same policy.
    """
    from ml_pipeline.config import ConfigError
    from ml_pipeline.data.validator import DataValidationError
    from ml_pipeline.failures.classification import TransientError, is_transient, one_line
    from ml_pipeline.feature_store.settings import FeatureStoreConfigError
    from ml_pipeline.training.resources import DeviceUnavailableError
    from ml_pipeline.validation.rules import RulesError

    try:
        return call()
    except (DataValidationError, ConfigError, RulesError, FeatureStoreConfigError, DeviceUnavailableError) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    except TransientError:
        raise
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(one_line(exc, limit=2000)) from exc
        raise


@task
def list_partitions(config_path: str) -> list[str]:
    """Find the ``data.partition_by`` values of this run's data: one mapped task each downstream."""
    from ml_pipeline.pipelines import training

    return run_step(training.list_partitions, config_path)


def label_partition(partition: str | None) -> None:
    """Show a mapped task's partition value in the UI instead of its bare map index."""
    get_current_context()["partition"] = partition or ""


PARTITION_LABEL = "{{ partition }}"


@task(map_index_template=PARTITION_LABEL)
def load_data(config_path: str, partition: str | None = None) -> dict:
    """Freeze the input partitions (or one partition value of them) into this run's snapshot."""
    from ml_pipeline.pipelines import training

    label_partition(partition)
    return run_step(training.load_data, config_path, partition)


@task
def combine_partitions(config_path: str, loaded: list[dict], features: list[dict]) -> dict:
    """Gather the mapped partitions' snapshots and features for training."""
    from ml_pipeline.pipelines import training

    return run_step(training.combine_partitions, config_path, list(loaded), list(features))


@task(map_index_template=PARTITION_LABEL)
def engineer_features(config_path: str, loaded: dict) -> dict:
    """Write the feature table of this run (derived features read point in time from the feature store)."""
    from ml_pipeline.pipelines import training

    label_partition(loaded.get("partition"))
    return run_step(training.engineer_features, config_path, loaded)


@task
def train_model(config_path: str, loaded: dict, features: dict) -> dict:
    """Train and log the model (once per run, data and config)."""
    from ml_pipeline.pipelines import training

    return run_step(training.train_model, config_path, loaded, features)


@task
def evaluate_model(config_path: str, features: dict, trained: dict) -> dict:
    """Holdout metrics, champion comparison and the promotion decision."""
    from ml_pipeline.pipelines import training

    return run_step(training.evaluate_model, config_path, features, trained)


@task
def register_model(config_path: str, loaded: dict, trained: dict, evaluation: dict) -> dict:
    """Register the version with its lineage, alias it ``challenger``; its deployment DAG takes it from there."""
    from ml_pipeline.pipelines import training

    registered = run_step(training.register_model, config_path, loaded, trained, evaluation)
    context = get_current_context()
    for outlet in context["outlets"]:  # the model's challenger asset: starts its deployment DAG
        context["outlet_events"][outlet].extra = {"model": registered["model_name"], "version": registered["version"]}
    return registered


@task
def send_notification(config_path: str, loaded: dict, trained: dict, evaluation: dict, registered: dict) -> dict:
    """Report what the run produced (log line now; Slack and email notifiers come with alerting)."""
    from ml_pipeline.pipelines import training

    summary = run_step(training.summarize_run, config_path, loaded, trained, evaluation, registered)
    log.info("model %s v%s (%s): auc=%.4f, %s", summary["model_name"], summary["version"],
             ",".join(summary["aliases"]), summary["metrics"]["auc"], summary["decision"]["reason"])
    return summary
