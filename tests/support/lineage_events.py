"""Synthetic OpenLineage run events in the shape the pipelines emit them (``RunEvent`` serialized to a dict).

Each task run sends START, our RUNNING (with its datasets, named by ``ml_pipeline.lineage.naming``) and COMPLETE,
under one run id, as the OpenLineage provider and ``emit_dataset_lineage`` do. Shared by the graph, command and
dashboard tests.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.naming import DatasetRef

TRACKING_URI = "http://127.0.0.1:5000"
TRACKING = naming.mlflow_namespace(TRACKING_URI)
LAKE = "s3://ml-data"
T0 = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)
PRODUCER = "https://github.com/apache/airflow/tree/providers-openlineage/2.20.3"
_ids = itertools.count(1)


def partition(day: str, fingerprint: str = "fp-1", table: str = "transactions") -> DatasetRef:
    """A lake partition of one day."""
    return naming.uri_dataset(f"{LAKE}/raw/{table}/date={day}/", naming.PARTITION, version=fingerprint, rows=1000)


def _facet(schema: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"https://openlineage.io/spec/facets/{schema}", **fields}


def dataset(ref: DatasetRef, side: str) -> dict[str, Any]:
    """One entry of ``inputs`` (``side="input"``) or ``outputs``, facets as OpenLineage serializes them."""
    facets = {naming.FACET: _facet("mlPlatform", kind=ref.kind, **ref.properties)}
    if ref.version:
        facets["version"] = _facet("1-0-1/DatasetVersionDatasetFacet.json", datasetVersion=ref.version)
    if ref.schema:
        facets["schema"] = _facet("1-1-1/SchemaDatasetFacet.json",
                                  fields=[{"name": n, "type": t} for n, t in ref.schema])
    item: dict[str, Any] = {"namespace": ref.namespace, "name": ref.name, "facets": facets}
    if ref.rows is not None:
        statistics = f"{side}Statistics"
        item[f"{side}Facets"] = {statistics: _facet(f"1-0-2/{statistics}.json", rowCount=ref.rows)}
    return item


def task_run(job: str, inputs: list[DatasetRef], outputs: list[DatasetRef], at: dt.datetime, *,
             model: str = "fraud_detection", dag_run: str = "scheduled__1",
             states: tuple[str, ...] = ("START", "RUNNING", "COMPLETE"), run_id: str | None = None) -> list[dict]:
    """The events of one task run: START and COMPLETE without datasets, RUNNING with them, one second apart."""
    run_id = run_id or str(uuid.UUID(int=next(_ids)))
    dag_id = job.split(".")[0]
    facets = {naming.FACET: _facet("mlPlatform", model=model, git_commit="abc123", config_hash="cfg1",
                                   trigger="schedule", dag_id=dag_id, run_id=dag_run)}
    events = []
    for i, state in enumerate(states):
        event = {"eventType": state, "eventTime": (at + dt.timedelta(seconds=i)).isoformat(),
                 "producer": PRODUCER, "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
                 "run": {"runId": run_id, "facets": facets}, "job": {"namespace": "default", "name": job},
                 "inputs": [], "outputs": []}
        if state == "RUNNING":
            event["inputs"] = [dataset(ref, "input") for ref in inputs]
            event["outputs"] = [dataset(ref, "output") for ref in outputs]
        events.append(event)
    return events


def training(model: str, version: int, days: list[str], at: dt.datetime, *, fingerprint: str = "fp-1",
             dag_run: str | None = None) -> list[dict]:
    """One training DAG run: load, validate, engineer features, train and register ``version``."""
    dag, dag_run = f"ml_training_{model}", dag_run or f"manual__v{version}"
    folder = f"{LAKE}/runs/{model}/{dag_run}"
    snapshot = naming.uri_dataset(f"{folder}/snapshot.parquet", naming.SNAPSHOT, version=f"sha-{version}",
                                  rows=3000, schema=(("amount", "double"), ("is_fraud", "int64")))
    report = naming.uri_dataset(f"{folder}/validation.json", naming.VALIDATION_REPORT, properties={"passed": True})
    features = naming.uri_dataset(f"{folder}/features.parquet", naming.FEATURES, rows=3000)
    mlflow_run = naming.mlflow_run_dataset(TRACKING_URI, f"run{version}", properties={"experiment": model})
    registered = naming.model_version_dataset(TRACKING_URI, model, version,
                                              properties={"model": model, "version": str(version)})
    step = dt.timedelta(minutes=1)
    parts = [partition(day, fingerprint) for day in days]
    kwargs = {"model": model, "dag_run": dag_run}
    return [*task_run(f"{dag}.load_data", parts, [snapshot], at, **kwargs),
            *task_run(f"{dag}.validate_data", [snapshot], [report], at + step, **kwargs),
            *task_run(f"{dag}.engineer_features", [snapshot], [features], at + 2 * step, **kwargs),
            *task_run(f"{dag}.train_model", [snapshot, features], [mlflow_run], at + 3 * step, **kwargs),
            *task_run(f"{dag}.register_model", [mlflow_run], [registered], at + 4 * step, **kwargs)]


def deployment(model: str, version: int, at: dt.datetime, action: str = "promoted",
               endpoint: str = "fraud-detection-api") -> list[dict]:
    """A deployment DAG run making ``endpoint`` serve ``version`` from ``at`` (promoted or rolled back)."""
    served = naming.endpoint_dataset(endpoint, properties={"model": model, "version": str(version),
                                                           "from": at.isoformat(), "action": action})
    task = "promote" if action == "promoted" else "roll_back"
    return task_run(f"model_deployment_{model}.{task}", [naming.model_version_dataset(TRACKING_URI, model, version)],
                    [served], at, model=model, dag_run=f"manual__{at:%Y%m%dT%H%M}")


def monitoring(model: str, version: int, at: dt.datetime) -> list[dict]:
    """A monitoring check of ``version``'s logged predictions."""
    report = naming.uri_dataset(f"{LAKE}/monitoring/{model}/{at:%Y%m%dT%H}/drift.html", naming.MONITORING_REPORT,
                                properties={"status": "stable"})
    inputs = [naming.model_version_dataset(TRACKING_URI, model, version), naming.prediction_log_dataset(model)]
    return task_run(f"model_monitoring_{model}.check_drift", inputs, [report], at, model=model,
                    dag_run=f"scheduled__{at:%Y%m%dT%H}")


def history(model: str = "fraud_detection") -> list[dict]:
    """v1 and v2 trained on overlapping days, v1 promoted, v2 promoted, v2 rolled back to v1; checks of both."""
    hour = dt.timedelta(hours=1)
    return [*training(model, 1, ["2026-11-18", "2026-11-19"], T0),
            *deployment(model, 1, T0 + hour),
            *monitoring(model, 1, T0 + 2 * hour),
            *training(model, 2, ["2026-11-19", "2026-11-20"], T0 + 24 * hour, fingerprint="fp-2"),
            *deployment(model, 2, T0 + 25 * hour),
            *deployment(model, 1, T0 + 26 * hour, action="rolled_back"),
            *monitoring(model, 1, T0 + 27 * hour)]
