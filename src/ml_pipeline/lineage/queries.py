"""The two questions ``ml-pipeline lineage`` answers, over the graph of ``graph.py``.

- ``version_lineage``: where a registered model version came from (partitions → snapshot, validation reports,
  features → MLflow run) and where it went (deployments: endpoint, from, to; monitoring checks).
- ``partition_reach``: every snapshot, model version and endpoint that a lake partition's data reached — what to
  retrain or roll back after a bad partition is found.

A deployment serves its version ``from`` the time its endpoint event says, ``to`` the time the next deployment of
the same endpoint started serving another version (None: it still serves).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.graph import DatasetState, JobRun, LineageGraph, Reach, parse_time

STAGES = ((naming.PARTITION, "partitions"), (naming.VALIDATION_REPORT, "validation reports"),
          (naming.QUARANTINE, "quarantine decisions"), (naming.SNAPSHOT, "snapshots"),
          (naming.FEATURE_VIEW, "feature views"), (naming.OFFLINE_FEATURES, "offline features"),
          (naming.FEATURES, "features"), (naming.MLFLOW_RUN, "MLflow runs"))
"""The upstream stages of a version, left to right as the data flowed."""
REACHED = ((naming.SNAPSHOT, "snapshots"), (naming.VALIDATION_REPORT, "validation reports"),
           (naming.QUARANTINE, "quarantine decisions"), (naming.FEATURE_VIEW, "feature views"),
           (naming.OFFLINE_FEATURES, "offline features"), (naming.FEATURES, "features"),
           (naming.MLFLOW_RUN, "MLflow runs"), (naming.MODEL_VERSION, "model versions"),
           (naming.ENDPOINT, "endpoints"), (naming.MONITORING_REPORT, "monitoring reports"))
"""What a partition's data can reach, in the order it flows."""
CHECKED_INPUTS = (naming.PARTITION, naming.SNAPSHOT)  # what validation reads: its reports belong to the version


class LineageNotFound(LookupError):
    """No event names the dataset asked about."""


@dataclass(frozen=True)
class Deployment:
    """An endpoint serving a version from one time to another (``to`` None: it serves it still)."""

    endpoint: str
    model: str | None
    version: str | None
    action: str | None
    start: dt.datetime | None
    end: dt.datetime | None
    run: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data (``from`` and ``to`` as ISO times)."""
        return {"endpoint": self.endpoint, "model": self.model, "version": self.version, "action": self.action,
                "from": _iso(self.start), "to": _iso(self.end), "run": self.run}


@dataclass(frozen=True)
class Check:
    """A monitoring check that read a version's predictions, and its report."""

    report: DatasetState
    run: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"report": self.report.to_dict(), "run": self.run}


@dataclass(frozen=True)
class VersionLineage:
    """A model version's lineage: its upstream datasets by stage, the runs that made them, what it went on to."""

    model: str
    version: str
    key: str
    upstream: dict[str, list[DatasetState]]
    runs: list[dict[str, Any]]
    deployments: list[Deployment]
    checks: list[Check]
    edges: list[tuple[str, str, str]] = field(default_factory=list)
    """``(input key, output key, job)``: what each upstream run read and wrote."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, for ``--json``."""
        return {"model": self.model, "version": self.version, "dataset": self.key,
                "upstream": {kind: [s.to_dict() for s in states] for kind, states in self.upstream.items()},
                "runs": self.runs, "edges": [list(edge) for edge in self.edges],
                "deployments": [d.to_dict() for d in self.deployments],
                "monitoring": [c.to_dict() for c in self.checks]}


@dataclass(frozen=True)
class PartitionReach:
    """What the data of one or more partitions reached, by kind, and the deployments of the versions reached."""

    partitions: list[str]
    reads: list[dict[str, Any]]
    reached: dict[str, list[DatasetState]]
    deployments: list[Deployment] = field(default_factory=list)

    @property
    def serving(self) -> list[Deployment]:
        """The deployments of reached versions that still serve."""
        return [d for d in self.deployments if d.end is None]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data, for ``--json``."""
        return {"partitions": self.partitions, "reads": self.reads,
                "reached": {kind: [s.to_dict() for s in states] for kind, states in self.reached.items()},
                "deployments": [d.to_dict() for d in self.deployments],
                "serving": [d.to_dict() for d in self.serving]}


def version_lineage(events: Iterable[Mapping[str, Any]] | LineageGraph, namespace: str | None, model: str,
                    version: str | int) -> VersionLineage:
    """The lineage of ``model`` version ``version`` (``namespace``: the tracking server's, None: any).

    ``events`` may be a graph already built from them (the dashboard asks several questions of one).

    Raises:
        LineageNotFound: No event names the version.
        ValueError: Several tracking servers registered a version of that name; ``namespace`` must choose.
    """
    graph = events if isinstance(events, LineageGraph) else LineageGraph.from_events(events)
    keys = graph.find(naming.MODEL_VERSION, f"models/{model}/{version}", namespace)
    if not keys:
        raise LineageNotFound(f"no lineage recorded for {model} v{version}: was it trained before lineage was "
                              "enabled, or in-process with `run-training`?")
    if len(keys) > 1:
        raise ValueError(f"{model} v{version} was registered on several tracking servers ({', '.join(keys)}); "
                         "name one with --tracking-uri")
    key = keys[0]
    up = graph.upstream(key)
    upstream = _by_stage(up.of_kind(*(kind for kind, _ in STAGES)))
    reports, checked = _validation(graph, up, model)
    for kind in (naming.VALIDATION_REPORT, naming.QUARANTINE):
        upstream[kind] = [s for s in reports if s.kind == kind]
    users = graph.consumers.get(key, [])
    checks = [Check(state, run.summary()) for run in users for state in run.outputs.values()
              if state.kind == naming.MONITORING_REPORT]
    runs = [run.summary() for run in sorted([*up.runs, *checked], key=lambda r: (_time(r.started), r.run_id))]
    ordered = {kind: upstream[kind] for kind, _ in STAGES if upstream.get(kind)}
    edges = [(i, o, run.job) for run in [*up.runs, *checked] for i in run.inputs for o in run.outputs]
    return VersionLineage(model, str(version), key, ordered, runs, deployments(graph, [key]), checks, edges)


def partition_reach(events: Iterable[Mapping[str, Any]] | LineageGraph, partition_uri: str) -> PartitionReach:
    """Every dataset the partition at ``partition_uri`` (a path, ``file://`` or ``s3://`` URI) reached.

    A folder above several partitions stands for all of them; a file inside one for its partition.

    Raises:
        LineageNotFound: No event names a partition there.
    """
    graph = events if isinstance(events, LineageGraph) else LineageGraph.from_events(events)
    wanted = naming.uri_dataset(partition_uri, naming.PARTITION).key
    partitions = sorted(key for key, state in graph.datasets.items() if state.kind == naming.PARTITION and (
        key == wanted or key.startswith(wanted.rstrip("/") + "/") or wanted.startswith(key.rstrip("/") + "/")))
    if not partitions:
        known = sorted(k for k, s in graph.datasets.items() if s.kind == naming.PARTITION)
        raise LineageNotFound(f"no lineage recorded for partition {wanted}"
                              + (f"; partitions with lineage: {', '.join(known[:5])}"
                                 + (" …" if len(known) > 5 else "") if known else ""))
    reached: dict[str, DatasetState] = {}
    reads = []
    for partition in partitions:
        for run in graph.consumers.get(partition, []):
            reads.append({"partition": partition, "version": run.inputs[partition].version, **run.summary()})
        for state, _ in graph.downstream(partition).datasets:
            reached.setdefault(state.key, state)
    versions = [k for k, s in reached.items() if s.kind == naming.MODEL_VERSION]
    grouped = _by_stage(reached.values())
    found = {kind: grouped.pop(kind) for kind, _ in REACHED if kind in grouped} | grouped
    return PartitionReach(partitions, sorted(reads, key=lambda r: r.get("started") or ""), found,
                          deployments(graph, versions))


def deployments(graph: LineageGraph, versions: Iterable[str]) -> list[Deployment]:
    """The deployments of the model versions ``versions`` (dataset keys), oldest first, with from and to."""
    wanted = set(versions)
    history: dict[str, list[tuple[Deployment, bool]]] = {}
    for run in graph.runs.values():
        for state in run.outputs.values():
            if state.kind == naming.ENDPOINT:
                history.setdefault(state.key, []).append((_deployment(state, run), bool(wanted & set(run.inputs))))
    chosen = []
    for served in history.values():
        served.sort(key=lambda item: _time(item[0].start))
        for i, (deployment, ours) in enumerate(served):
            if ours:
                later = (d.start for d, _ in served[i + 1:] if d.version != deployment.version)
                chosen.append(replace(deployment, end=next(later, None)))
    return sorted(chosen, key=lambda d: (_time(d.start), d.endpoint))


def _deployment(state: DatasetState, run: JobRun) -> Deployment:
    props = state.properties
    version = props.get("version")
    return Deployment(state.name.removeprefix("endpoints/"), props.get("model"),
                      None if version is None else str(version), props.get("action"),
                      parse_time(props.get("from")) or run.started, None, run.summary())


def _validation(graph: LineageGraph, up: Reach, model: str) -> tuple[list[DatasetState], list[JobRun]]:
    """The reports of the runs that validated the version's own input, and those runs.

    That is the validation of the same DAG run as the training (its snapshot), and partition validations that
    read a partition as the training read it (the same fingerprint): not a later check of a rewritten partition,
    nor another model's.
    """
    mine = {r.run_id for r in up.runs}
    dag_runs = {(r.facets.get("dag_id"), r.facets.get("run_id")) for r in up.runs if r.facets.get("run_id")}
    read = {s.key: s.version for s in up.of_kind(*CHECKED_INPUTS)}
    reports: dict[str, DatasetState] = {}
    runs: dict[str, JobRun] = {}
    for key, version in read.items():
        for run in graph.consumers.get(key, []):
            same_run = (run.facets.get("dag_id"), run.facets.get("run_id")) in dag_runs
            same_rows = (version is not None and run.inputs[key].version == version
                         and run.facets.get("model") in (None, model))
            found = [s for s in run.outputs.values() if s.kind in (naming.VALIDATION_REPORT, naming.QUARANTINE)]
            if found and (same_run or same_rows):
                runs[run.run_id] = run
                reports.update((s.key, s) for s in found)
    return list(reports.values()), [r for r in runs.values() if r.run_id not in mine]


def _by_stage(states: Iterable[DatasetState]) -> dict[str, list[DatasetState]]:
    grouped: dict[str, list[DatasetState]] = {}
    for state in states:
        grouped.setdefault(state.kind or "unknown", []).append(state)
    return {kind: sorted(found, key=lambda s: s.key) for kind, found in grouped.items()}


def _time(when: dt.datetime | None) -> dt.datetime:
    return when or dt.datetime.min.replace(tzinfo=dt.UTC)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()
