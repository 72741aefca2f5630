"""The data validation pipeline's tasks: wait for the day's partition, list its slices."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import PokeReturnValue, get_current_context, task

from ml_pipeline_airflow.runtime import run_step


def partition_day() -> dt.date | None:
    """The ``partition_date`` param of a manual run, else None (the run's own date).

    Raises:
        PermanentError: The date is after today (UTC): its partition cannot have landed, and waiting 6 h for it
            would only delay the answer.
    """
    from ml_pipeline.errors import PermanentError

    value = get_current_context()["params"].get("partition_date")
    day = dt.date.fromisoformat(value) if value else None
    if day is not None and day > dt.datetime.now(dt.UTC).date():
        raise PermanentError(f"partition_date {day} is after today ({dt.datetime.now(dt.UTC).date()} UTC): no "
                             "partition of it can have landed; trigger the run again with a day that has data")
    return day


@task.sensor(poke_interval=300, timeout=6 * 3600, mode="reschedule")
def wait_for_partition(config_path: str) -> PokeReturnValue:
    """Wait, without holding a worker slot, until the run's daily partition holds parquet files."""
    from ml_pipeline.pipelines import validation

    uri = run_step(lambda ctx: validation.landed_partition(ctx, partition_day()), config_path)
    return PokeReturnValue(is_done=uri is not None, xcom_value=uri)


@task
def list_partition_values(config_path: str) -> list[str | None]:
    """The partition's ``data.partition_by`` values (one validation task each), or ``[None]``."""
    from ml_pipeline.pipelines import validation

    return run_step(lambda ctx: validation.partition_slices(ctx, partition_day()), config_path)


@task
def check_partition_day(config_path: str) -> str:
    """Before a sensor outside the lake code (``S3DataSensor``) waits: the run's conf and day, or a failure at once.

    A conf key the DAG does not know, a ``partition_date`` after today, or a day that cannot land (before the
    dataset's first day) would otherwise be waited for, 6 h, on the triggerer. Returns the partition's URI.
    """
    from ml_pipeline.data.loader import partition_uri
    from ml_pipeline.pipelines import validation

    def check(ctx):  # the core's own answer: landed, may still land (None), or never (raises)
        day = partition_day() or ctx.logical_date
        return validation.landed_partition(ctx, day) or partition_uri(ctx.dataset_uri, day)

    return run_step(check, config_path, step_name="check_partition_day")


@task
def landed_partition(config_path: str) -> str:
    """The run's partition URI once a sensor outside the lake code (``S3DataSensor``) has seen it land.

    The sensor saw it, so a partition without parquet files now was deleted: a permanent failure, not lateness.
    """
    from ml_pipeline.data.loader import DeletedPartitionError, partition_uri
    from ml_pipeline.pipelines import validation

    def landed(ctx):
        uri = validation.landed_partition(ctx, partition_day())
        if uri is None:
            gone = partition_uri(ctx.dataset_uri, partition_day() or ctx.logical_date)
            raise DeletedPartitionError.of(gone, "this run's sensor saw it land")
        return uri

    return run_step(landed, config_path, step_name="landed_partition")
