"""The data validation pipeline's steps: find the landed partition, validate it (or each of its slices)."""

from __future__ import annotations

import datetime as dt
import logging

from ml_pipeline.data.lake import list_parquet_files
from ml_pipeline.data.loader import outside_the_data, partition_uri, partition_values
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)


def landed_partition(ctx: RunContext, day: dt.date | None = None) -> str | None:
    """URI of the run's daily partition once it holds parquet files, else None (not landed yet).

    Raises:
        PartitionOutsideDataError: The day can never land (after today, or before the dataset's first day): the
            sensor fails at once, naming the day and the fix, instead of waiting 6 h for it.
    """
    uri = partition_uri(ctx.dataset_uri, day or ctx.logical_date)
    if list_parquet_files(uri):
        return uri
    if error := outside_the_data(uri):
        raise error
    return None


def partition_slices(ctx: RunContext, day: dt.date | None = None) -> list[str | None]:
    """The ``data.partition_by`` values of one day's partition (one validation each), or ``[None]``."""
    column = ctx.config.data.partition_by
    return partition_values(ctx.dataset_uri, day or ctx.logical_date, 1, column) if column else [None]


def validate_partition(ctx: RunContext, data_uri: str, value: str | None = None) -> dict:
    """Check one landed partition (or one slice of it); quarantine it and fail on an ``error``."""
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import validate_partition_uri
    from ml_pipeline.validation.report import failure_message

    report = validate_partition_uri(ctx.config, rules_for_model(ctx.config, ctx.config_path), data_uri,
                                    ctx.lake_uri, value)
    log.info("%s (report: %s)", report.summary(), report.report_uri)
    for check in report.warnings:
        log.warning("%s", check.line())
    if report.blocking:
        raise DataValidationError(failure_message([report]))
    return {"status": report.status, "data_uri": report.data_uri, "scope": report.scope,
            "report_uri": report.report_uri, "fingerprint": report.fingerprint,
            "warnings": [check.line() for check in report.warnings]}
