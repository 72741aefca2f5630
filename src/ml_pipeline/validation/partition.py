"""Validate one data partition for one model: run the rules, write the report next to the data, quarantine.

The training pipeline, the ``data_validation_<model>`` DAG and ``ml-pipeline
validate`` all go through ``check_partition``, so a partition gets the same
verdict wherever it is checked.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import fsspec
import polars as pl

from ml_pipeline.config import ConfigError, ModelConfig
from ml_pipeline.data.lake import fingerprint, join_uri
from ml_pipeline.data.loader import (
    MissingPartitionError,
    load_partition,
    partition_dates,
    partition_day,
    row_counts,
    slice_filter,
)
from ml_pipeline.data.paths import check_partition_value, join_under
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.validation.compiled import PartitionFacts
from ml_pipeline.validation.engine import validate_frame
from ml_pipeline.validation.quarantine import QuarantineStore
from ml_pipeline.validation.report import CheckResult, ValidationReport
from ml_pipeline.validation.rules import RuleSet

UNREADABLE = "schema.readable"


@dataclasses.dataclass(frozen=True)
class PartitionRef:
    """One daily partition folder of a dataset, or one ``partition_by`` slice of it."""

    dataset_uri: str
    data_uri: str
    fingerprint: str
    newest_file_time: dt.datetime | None = None
    column: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        """Refuse a slice value that cannot name its report's folder (it comes from the data, or a person)."""
        if self.value is not None:
            check_partition_value(self.value, self.column)

    @property
    def scope(self) -> str | None:
        """``column=value`` for a slice, None for the whole partition."""
        return f"{self.column}={self.value}" if self.column else None


def partition_ref(dataset_uri: str, data_uri: str, column: str | None = None,
                  value: str | None = None) -> PartitionRef:
    """Describe the partition at ``data_uri`` as it is now (fingerprint and newest file time)."""
    digest, newest = fingerprint(data_uri)
    return PartitionRef(dataset_uri, data_uri, digest, newest, column, value)


def partition_folder(data_uri: str) -> str:
    """The daily partition folder of ``data_uri`` (itself, or the folder of one parquet file in it)."""
    data_uri = data_uri.rstrip("/")
    return data_uri.rsplit("/", 1)[0] if data_uri.endswith(".parquet") else data_uri


def partition_facts(ref: PartitionRef, rules: RuleSet, now: dt.datetime | None = None) -> PartitionFacts:
    """Freshness is judged at the end of the partition's day (or now, if earlier); volume against earlier days."""
    now = now or dt.datetime.now(dt.UTC)
    day = partition_day(partition_folder(ref.data_uri))
    if day is None:
        return PartitionFacts(now, ref.newest_file_time, [])
    end_of_day = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)
    earlier = partition_dates(day - dt.timedelta(days=1), rules.volume.trailing_partitions)
    counts = row_counts(ref.dataset_uri, earlier, ref.column, ref.value)
    return PartitionFacts(min(now, end_of_day), ref.newest_file_time, [counts[d] for d in earlier if d in counts],
                          day_end=end_of_day)


def check_partition(frame: pl.DataFrame, config: ModelConfig, rules: RuleSet, ref: PartitionRef,
                    lake_uri: str, now: dt.datetime | None = None) -> ValidationReport:
    """Validate ``frame`` (the rows of ``ref``), write its report next to the data, update the quarantine."""
    rules = rules.for_slice() if ref.scope else rules
    results = validate_frame(frame, rules, partition_facts(ref, rules, now))
    report = ValidationReport(config.model_name, ref.data_uri, ref.scope, frame.height, ref.fingerprint,
                              rules.content_hash(), dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), results)
    return publish(report, ref, lake_uri)


def publish(report: ValidationReport, ref: PartitionRef, lake_uri: str) -> ValidationReport:
    """Apply a person's release, write the report next to the data, quarantine or resolve the partition."""
    store = QuarantineStore(lake_uri)
    report.release = store.release_for(report)
    report.report_uri = write_report(report, report_dir(ref, report.model))
    store.record(report)
    return report


def report_dir(ref: PartitionRef, model: str) -> str:
    """``<partition>/_validation/<model>[/<column>=<value>]``: the report lives next to the data it judges."""
    folder = partition_folder(ref.data_uri)
    file_stem = ref.data_uri.rstrip("/")[len(folder):].strip("/").removesuffix(".parquet")  # "" for a folder
    return join_under(folder, "_validation", file_stem, model, ref.scope or "")


def write_report(report: ValidationReport, folder_uri: str) -> str:
    """Write ``report.json`` and ``report.md`` into ``folder_uri``; return the Markdown report's URI."""
    fs, path = fsspec.core.url_to_fs(folder_uri)
    fs.makedirs(path, exist_ok=True)
    fs.pipe_file(f"{path}/report.json", report.to_json().encode())
    fs.pipe_file(f"{path}/report.md", report.to_markdown().encode())
    return join_uri(folder_uri, "report.md")


def validate_partition_uri(config: ModelConfig, rules: RuleSet, data_uri: str, lake_uri: str,
                           value: str | None = None) -> ValidationReport:
    """Read the partition at ``data_uri`` (a daily folder or one parquet file) and check it.

    An unreadable file is a failed check like any other (the partition is quarantined); a missing
    partition raises ``MissingPartitionError``: there is nothing to judge yet.
    """
    from ml_pipeline.data.lake import exists, is_file, read_parquet

    data_uri = data_uri.rstrip("/")
    column = config.data.partition_by if value is not None else None
    if data_uri.endswith(".parquet") and not is_file(data_uri):  # a folder so named is no file (and no day's folder)
        folder = exists(data_uri)  # a folder so named never becomes a file: no waiting for it
        raise (ConfigError if folder else MissingPartitionError)(
            f"{data_uri} {'is a folder' if folder else 'does not exist'}: name a partition's folder (…/YYYY-MM-DD) or "
            "one of its parquet files")
    ref = partition_ref(partition_folder(data_uri).rsplit("/", 1)[0], data_uri, column, value)
    try:
        frame = read_parquet(data_uri) if data_uri.endswith(".parquet") else load_partition(data_uri)
    except DataValidationError as exc:
        return record_unreadable(config, rules, ref, lake_uri, str(exc))
    if column is not None:
        frame = frame.filter(slice_filter(column, value))
    return check_partition(frame, config, rules, ref, lake_uri)


def record_unreadable(config: ModelConfig, rules: RuleSet, ref: PartitionRef, lake_uri: str,
                      error: str) -> ValidationReport:
    """A partition whose files cannot be read fails one check, ``schema.readable``, and is quarantined."""
    result = CheckResult(UNREADABLE, "schema", None, "error", "every parquet file readable", error, False)
    report = ValidationReport(config.model_name, ref.data_uri, ref.scope, 0, ref.fingerprint, rules.content_hash(),
                              dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), [result])
    return publish(report, ref, lake_uri)
