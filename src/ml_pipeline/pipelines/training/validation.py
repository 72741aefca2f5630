"""The training pipeline's data gate: every partition of the run's snapshot against the model's rules."""

from __future__ import annotations

import datetime as dt
import logging

import polars as pl

from ml_pipeline.data.lake import read_parquet
from ml_pipeline.data.paths import join_under
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.results import LoadedSnapshot, ValidationSummary

log = logging.getLogger(__name__)
STATUS_ORDER = ["passed", "warning", "released", "failed"]
PARTITION = "__partition"


def validate_data(ctx: RunContext, loaded: LoadedSnapshot) -> ValidationSummary:
    """Check every partition of the snapshot against the model's rules; stop on an ``error``.

    Each partition's report is written next to its data and, combined, into the run's folder (train_model
    logs it to MLflow). A failing partition is quarantined, and the error lists every failed check.
    """
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import PartitionRef, check_partition, write_report
    from ml_pipeline.validation.report import failure_message

    rules = rules_for_model(ctx.config, ctx.config_path)
    exact = loaded.get("partition_snapshots")
    frame = None if exact else read_parquet(loaded["snapshot_uri"])
    column = ctx.config.data.partition_by if loaded.get("partition") is not None else None
    reports, keys, offset = [], [], 0
    key = rules.uniqueness.key if rules.uniqueness else []
    for i, (uri, rows, digest, newest) in enumerate(zip(
            loaded["partitions"], loaded["partition_rows"], loaded["fingerprints"], loaded["file_times"], strict=True)):
        ref = PartitionRef(ctx.dataset_uri, uri, digest, dt.datetime.fromisoformat(newest) if newest else None,
                           column=column, value=loaded.get("partition"))
        rows_of_partition = read_parquet(exact[i]) if exact else frame.slice(offset, rows)
        reports.append(check_partition(rows_of_partition, ctx.config, rules, ref, ctx.lake_uri))
        if key and set(key) <= set(rows_of_partition.columns):
            keys.append(rows_of_partition.select(key).unique().with_columns(pl.lit(uri).alias(PARTITION)))
        offset += rows
    folder = join_under(ctx.run_prefix, "validation", reports[0].scope or "all")
    for report in reports:
        write_report(report, f"{folder}/{report.data_uri.rstrip('/').rsplit('/', 1)[-1]}")
        log.info("%s", report.summary())
    if any(report.blocking for report in reports):
        raise DataValidationError(failure_message(reports))
    if len(keys) > 1:
        check_keys_across(pl.concat(keys, how="diagonal_relaxed"), key, rules.uniqueness.max_duplicate_key_fraction,
                          rules.uniqueness.severity)
    return {"status": max((r.status for r in reports), key=STATUS_ORDER.index), "report_uri": folder,
            "checks": sum(len(r.results) for r in reports), "warnings": sum(len(r.warnings) for r in reports),
            "released": [r.data_uri for r in reports if r.status == "released"]}


def check_keys_across(keys: pl.DataFrame, key: list[str], max_fraction: float, severity: str = "error") -> None:
    """Fail when partitions share row keys beyond ``max_fraction`` of them (a day copied into another's folder).

    Each partition passes its own uniqueness rule alone; the window would still train on the copied rows twice.
    With the uniqueness rule's ``severity: warning`` it is logged instead.
    """
    shared = keys.group_by(key).agg(pl.col(PARTITION).sort()).filter(pl.col(PARTITION).list.len() > 1)
    if shared.height <= max_fraction * keys.height:
        return
    first = shared.sort(key).row(0, named=True)
    problem = (
        f"{shared.height} value(s) of the uniqueness key {key} appear in more than one partition of the window (e.g. "
        f"{ {k: first[k] for k in key} } in {', '.join(first[PARTITION])}): a day's data copied into another day's "
        "folder? Remove the copy; each row belongs to one partition.")
    if severity == "warning":
        log.warning("%s", problem)
        return
    raise DataValidationError(problem)
