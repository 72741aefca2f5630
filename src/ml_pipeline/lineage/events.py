"""What each pipeline step read and wrote, as datasets: the content of the OpenLineage events the tasks emit.

A step is known by its function's name (``load_data``, ``promote`` …). ``step_lineage`` turns the step's
``RunContext``, the references it was given and the result it returned into ``DatasetRef`` inputs and outputs,
named by ``naming`` so that one step's output is the next one's input (the graph connects):

partitions → ``load_data`` → snapshot → ``validate_data`` → validation reports (+ quarantine decisions);
snapshot (+ feature views) → ``engineer_features`` → features → ``train_model`` → MLflow run →
``register_model`` → model version → ``promote`` / ``roll_back`` → endpoint; model version + prediction log →
``record_check`` → monitoring report. The feature DAG: partitions → ``compute_day`` → offline features →
``write_to_feature_store`` → feature views. The data validation DAG: partition → ``validate_partition`` → report.

Only what the results already say, plus parquet footers (schema, row count) read where cheap: never the data.
A validation that fails still says what it wrote (reports, quarantine decisions), read back from the lake.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.naming import DatasetRef, uri_dataset
from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)
MAX_FOOTERS = 50
"""Parquet files whose footers are read for one dataset's schema and row count; beyond that the rows are unknown."""


@dataclass(frozen=True)
class StepLineage:
    """The datasets one run of a step read and wrote."""

    step: str
    inputs: tuple[DatasetRef, ...] = ()
    outputs: tuple[DatasetRef, ...] = ()


def run_facet(ctx: RunContext) -> dict[str, str]:
    """The ``mlPlatform`` run facet: model, code commit and ``git_dirty``, config hash, trigger and the Airflow run."""
    from ml_pipeline.lineage.provenance import code_version

    code = code_version()
    return {"model": ctx.config.model_name, "git_commit": code["git_commit"], "git_dirty": code["git_dirty"],
            "config_hash": ctx.config.content_hash(), "trigger": ctx.trigger, "dag_id": ctx.dag_id,
            "run_id": ctx.run_id}


def step_lineage(step: str, ctx: RunContext, args: Sequence[Any], result: Any) -> StepLineage | None:
    """The datasets ``step`` read and wrote; None for a step that touches no dataset of ours (or an unknown one).

    Args:
        step: The core step's function name.
        ctx: The run.
        args: What the step was given after the context (the earlier steps' results).
        result: What it returned; None when it raised (only a failed validation still has outputs).
    """
    mapper = STEPS.get(step)
    if mapper is None or (result is None and step not in FAILED_STEPS):
        return None
    inputs, outputs = mapper(ctx, tuple(args), result)
    if not inputs and not outputs:
        return None
    return StepLineage(step, tuple(inputs), tuple(outputs))


def parquet_facts(uri: str) -> tuple[int | None, tuple[tuple[str, str], ...]]:
    """Row count and ``(column, type)`` schema of a parquet file or folder, from the footers only.

    Anything unreadable gives ``(None, ())``: lineage never fails a step.
    """
    try:
        import fsspec
        import pyarrow.parquet as pq

        fs, path = fsspec.core.url_to_fs(uri)
        files = [path] if path.endswith(".parquet") else sorted(
            p for p in fs.ls(path, detail=False) if p.endswith(".parquet"))
        rows, schema = 0, ()
        for i, file in enumerate(files[:MAX_FOOTERS]):
            with fs.open(file, "rb") as handle:
                meta = pq.read_metadata(handle)
            rows += meta.num_rows
            if i == 0:
                schema = tuple((f.name, str(f.type)) for f in meta.schema.to_arrow_schema())
        return (rows if files and len(files) <= MAX_FOOTERS else None), schema
    except Exception as exc:  # a missing file, a permission, a store that is down: no facts, no failure
        log.debug("no parquet facts for %s: %s", uri, exc)
        return None, ()


def file_dataset(uri: str, kind: str, rows: int | None = None, **known: Any) -> DatasetRef:
    """A parquet dataset with its footer schema (and footer rows unless ``rows`` is given)."""
    footer_rows, schema = parquet_facts(uri)
    return uri_dataset(uri, kind, rows=rows if rows is not None else footer_rows, schema=schema, **known)


def partition_dataset(uri: str, fingerprint: str | None) -> DatasetRef:
    """A daily lake partition, its version the fingerprint the pipelines judge freshness by."""
    return file_dataset(uri, naming.PARTITION, version=fingerprint)


def snapshot_datasets(loaded: dict) -> list[DatasetRef]:
    """The snapshot(s) a ``load_data`` / ``combine_partitions`` result names (combined: one per slice)."""
    uris = loaded["snapshot_uri"].split(",")
    if len(uris) > 1:
        return [uri_dataset(uri, naming.SNAPSHOT) for uri in uris]
    return [file_dataset(uris[0], naming.SNAPSHOT, rows=loaded.get("rows"), version=loaded.get("data_hash"),
                         properties=_present(partition=loaded.get("partition"),
                                             positive_rate=loaded.get("positive_rate")))]


def _load_data(ctx: RunContext, args: tuple, loaded: dict) -> tuple[list, list]:
    inputs = [partition_dataset(uri, fp) for uri, fp in zip(loaded["partitions"], loaded["fingerprints"], strict=True)]
    return inputs, snapshot_datasets(loaded)


def _validate_data(ctx: RunContext, args: tuple, summary: dict | None) -> tuple[list, list]:
    loaded = args[0]
    column = ctx.config.data.partition_by if loaded.get("partition") is not None else None
    reports, quarantined = [], []
    for uri, fp in zip(loaded["partitions"], loaded["fingerprints"], strict=True):
        report, entry = _validation_outputs(ctx, uri, fp, column, loaded.get("partition"),
                                            released=uri in (summary or {}).get("released", []), failed=not summary)
        reports.append(report)
        quarantined += entry
    return snapshot_datasets(loaded), reports + quarantined


def _validate_partition(ctx: RunContext, args: tuple, result: dict | None) -> tuple[list, list]:
    from ml_pipeline.data.lake import fingerprint

    data_uri, value = args[0].rstrip("/"), (args[1] if len(args) > 1 else None)
    fp = result["fingerprint"] if result else fingerprint(data_uri)[0]
    column = ctx.config.data.partition_by if value is not None else None
    report, entry = _validation_outputs(ctx, data_uri, fp, column, value,
                                        released=bool(result) and result["status"] == "released", failed=not result)
    return [partition_dataset(data_uri, fp)], [report, *entry]


def _validation_outputs(ctx: RunContext, uri: str, fp: str, column: str | None, value: str | None, *,
                        released: bool, failed: bool) -> tuple[DatasetRef, list[DatasetRef]]:
    """A partition's report (next to its data) and, when it was released or failed, its quarantine decision."""
    from ml_pipeline.data.lake import join_uri
    from ml_pipeline.validation.partition import PartitionRef, report_dir
    from ml_pipeline.validation.quarantine import QuarantineStore

    ref = PartitionRef(ctx.dataset_uri, uri, fp, None, column, value)
    model = ctx.config.model_name
    report = uri_dataset(join_uri(report_dir(ref, model), "report.md"), naming.VALIDATION_REPORT,
                         properties=_present(partition=uri, scope=ref.scope))
    if not (released or failed):
        return report, []
    store = QuarantineStore(ctx.lake_uri)
    entry_uri = join_uri(store.root, model, f"{store.entry_id(uri, ref.scope)}.json")
    entry = _read_json(entry_uri)
    if entry is None or entry.get("fingerprint") != fp:
        return report, []  # passed after all (a failed step can fail for other reasons) or not for this data
    return report, [uri_dataset(entry_uri, naming.QUARANTINE, version=fp,
                                properties=_present(partition=uri, status=entry.get("status"), scope=ref.scope))]


def _engineer_features(ctx: RunContext, args: tuple, table: dict) -> tuple[list, list]:
    views = []
    if ctx.config.uses_feature_store and ctx.feature_store is not None:
        from ml_pipeline.features.registry import views_for

        settings, model = ctx.feature_store, ctx.config.model_name
        views = [naming.feature_view_dataset(settings.project, settings.feast_name(model, view.name))
                 for view in views_for(ctx.config.data.features, ctx.config.data.feature_functions)]
    return snapshot_datasets(args[0]) + views, [_features(table)]


def _combine_partitions(ctx: RunContext, args: tuple, combined: dict) -> tuple[list, list]:
    loaded, features = args
    inputs = [ref for part in loaded for ref in snapshot_datasets(part)] + [_features(table) for table in features]
    return inputs, [_features(combined["features"])]


def _features(table: dict) -> DatasetRef:
    return file_dataset(table["features_uri"], naming.FEATURES, rows=table.get("rows"))


def _train_model(ctx: RunContext, args: tuple, trained: dict) -> tuple[list, list]:
    loaded, features = args
    run = naming.mlflow_run_dataset(ctx.tracking_uri, trained["mlflow_run_id"], properties=_present(
        experiment=ctx.config.model_name, model_uri=trained.get("model_uri"), train_rows=trained.get("train_rows"),
        holdout_rows=trained.get("holdout_rows")))
    return snapshot_datasets(loaded) + [_features(features)], [run]


def _register_model(ctx: RunContext, args: tuple, registered: dict) -> tuple[list, list]:
    loaded, trained = args[0], args[1]
    run = naming.mlflow_run_dataset(ctx.tracking_uri, trained["mlflow_run_id"])
    version = naming.model_version_dataset(ctx.tracking_uri, registered["model_name"], registered["version"],
                                           properties=_present(model=registered["model_name"],
                                                               version=str(registered["version"]),
                                                               data_hash=loaded.get("data_hash"),
                                                               model_uri=registered.get("model_uri")))
    return [run], [version]


def _compute_day(ctx: RunContext, args: tuple, computed: dict) -> tuple[list, list]:
    inputs = [partition_dataset(uri, fp) for uri, fp in sorted(computed["sources"].items())]
    return inputs, [_offline(ctx, name, rows=view["rows"], properties={"day": computed["day"], "file": view["uri"]})
                    for name, view in sorted(computed["views"].items())]


def _write_to_feature_store(ctx: RunContext, args: tuple, summary: dict) -> tuple[list, list]:
    names = sorted({name for item in args[0] for name in item["views"]})
    project = ctx.feature_store.project if ctx.feature_store else "default"
    return [_offline(ctx, name) for name in names], [
        naming.feature_view_dataset(project, view, properties={"days": summary.get("days", [])})
        for view in summary["feature_views"]]


def _offline(ctx: RunContext, view: str, **known: Any) -> DatasetRef:
    return uri_dataset(ctx.feature_store.offline_uri(ctx.config.model_name, view), naming.OFFLINE_FEATURES, **known)


def _promote(ctx: RunContext, args: tuple, promoted: dict) -> tuple[list, list]:
    return _deployment(ctx, promoted["version"], "promoted", previous=promoted.get("previous"))


def _roll_back(ctx: RunContext, args: tuple, rolled: dict) -> tuple[list, list]:
    return _deployment(ctx, rolled.get("to"), "rolled_back", replaced=rolled.get("from"), reason=rolled.get("reason"))


def _deployment(ctx: RunContext, version: str | None, action: str, **details: Any) -> tuple[list, list]:
    """The version an endpoint serves from now on (``from``), and how it came to (``action``)."""
    model, endpoint = ctx.config.model_name, ctx.config.deployment.endpoint_name
    inputs = [naming.model_version_dataset(ctx.tracking_uri, model, version)] if version else []
    if not endpoint:  # registry-only: no endpoint serves it
        return inputs, []
    since = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return inputs, [naming.endpoint_dataset(endpoint, properties=_present(
        model=model, version=str(version) if version else None, action=action, **details, **{"from": since}))]


def _record_check(ctx: RunContext, args: tuple, recorded: dict) -> tuple[list, list]:
    if not recorded.get("report_uri"):
        return [], []  # a skipped check read nothing new and wrote no report
    model, version = recorded["model"], recorded["version"]
    inputs = [naming.model_version_dataset(ctx.tracking_uri, model, version), naming.prediction_log_dataset(model)]
    report = uri_dataset(recorded["report_uri"], naming.MONITORING_REPORT, properties=_present(
        model=model, version=str(version), status=recorded.get("status"), check_id=recorded.get("check_id"),
        cause=recorded.get("cause"), window_end=recorded.get("window_end")))
    return inputs, [report]


def _present(**values: Any) -> dict[str, Any]:
    """The values that are known (not None)."""
    return {k: v for k, v in values.items() if v is not None}


def _read_json(uri: str) -> dict | None:
    try:
        import fsspec

        fs, path = fsspec.core.url_to_fs(uri)
        return json.loads(fs.cat_file(path)) if fs.exists(path) else None
    except Exception as exc:
        log.debug("cannot read %s: %s", uri, exc)
        return None


Mapper = Callable[[RunContext, tuple, Any], tuple[list, list]]
STEPS: dict[str, Mapper] = {
    "load_data": _load_data, "validate_data": _validate_data, "engineer_features": _engineer_features,
    "combine_partitions": _combine_partitions, "train_model": _train_model, "register_model": _register_model,
    "validate_partition": _validate_partition, "compute_day": _compute_day,
    "write_to_feature_store": _write_to_feature_store, "promote": _promote, "roll_back": _roll_back,
    "rollback_to": _roll_back, "record_check": _record_check,
}
"""Each step with datasets of ours, by its function's name."""
FAILED_STEPS = frozenset({"validate_data", "validate_partition"})
"""Steps whose failure still wrote something worth tracing (reports, quarantine decisions)."""
