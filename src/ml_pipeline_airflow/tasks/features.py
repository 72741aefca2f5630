"""The feature pipeline's tasks, and training's wait for fresh features. Heavy libraries load inside the tasks."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import PokeReturnValue, get_current_context, task
from airflow.sdk.exceptions import AirflowSkipException

from ml_pipeline_airflow.runtime import run_step


@task
def find_pending_days(config_path: str) -> list[str]:
    """Days of the window whose data landed and whose features are missing or stale (one mapped task each)."""
    from ml_pipeline.pipelines import features

    return run_step(features.pending_days, config_path)


def label_day(day: str) -> None:
    get_current_context()["day"] = day


@task(multiple_outputs=False, map_index_template="{{ day }}")
def compute_features(config_path: str, day: str) -> dict:
    """Validate one day's partition and compute its feature views into the offline store."""
    from ml_pipeline.pipelines import features

    label_day(day)
    return run_step(features.compute_day, config_path, day)


@task(multiple_outputs=False)
def write_to_feature_store(config_path: str, computed: list[dict]) -> dict:
    """Register the views and materialize the new days online.

    Its outlet (the model's feature asset) gets an event only when something was computed: an hourly run with
    nothing new starts no training.
    """
    from ml_pipeline.pipelines import features

    computed = list(computed)
    if not computed:
        raise AirflowSkipException("no new or changed partitions: the features are up to date")
    summary = run_step(features.write_to_feature_store, config_path, computed)
    context = get_current_context()
    for outlet in context["outlets"]:
        context["outlet_events"][outlet].extra = summary
    return summary


@task.sensor(poke_interval=60, timeout=24 * 3600, mode="reschedule")
def wait_for_features(config_path: str, loaded: dict, wait_seconds: float, feature_dag_id: str) -> PokeReturnValue:
    """Confirm that the feature store holds features computed from exactly this run's snapshot.

    Every day and every view is checked, without holding a worker slot between checks; fails after
    ``wait_seconds`` of the run saying what is missing, so a run without fresh features never trains.
    """
    from airflow.sdk.exceptions import AirflowFailException

    from ml_pipeline.pipelines import features

    ready, problems = run_step(lambda ctx: features.features_ready(ctx, loaded["partitions"],
                                                                   loaded["fingerprints"]), config_path)
    if not ready:
        started = get_current_context()["dag_run"].start_date or dt.datetime.now(dt.UTC)
        waited = (dt.datetime.now(dt.UTC) - started).total_seconds()
        if waited >= wait_seconds:
            raise AirflowFailException(
                f"features not fresh after {waited:.0f} s (wait limit {wait_seconds:.0f} s): "
                f"{'; '.join(problems[:10])}{' …' if len(problems) > 10 else ''}. Run (or fix) "
                f"{feature_dag_id}, then clear this task.")
    return PokeReturnValue(is_done=ready, xcom_value={"days": len(loaded["partitions"])})
