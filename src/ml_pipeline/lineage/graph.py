"""The graph that OpenLineage run events draw: datasets and job runs, edges input → run → output.

Events are plain dicts in the shape an OpenLineage ``RunEvent`` serializes to (the platform database's
``lineage_events``, or the file transport's JSON lines). One task run sends several events with the same ``runId``
(the provider's START and COMPLETE, our RUNNING with the datasets, a re-sent copy): they become one ``JobRun``
whose inputs and outputs are the union of theirs. A dataset is identified by ``(namespace, name)``
(``naming.dataset_key``), so that the snapshot one run writes is the snapshot the next one reads.

Walks respect time: upstream of a run only runs that started no later than it count, downstream of a run only runs
that started no earlier. A dataset that many runs write (a Feast view, an endpoint) thus never links a model to
data that came after it. Walks also stop at a Feast feature view: a view holds every day ever computed, so going
through it would tie each partition to every later training that read the view, and each version to every
partition ever computed. A training's own rows come from its snapshot (whose partitions the walk follows); the
views it read are listed, not walked through.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ml_pipeline.lineage.naming import FACET, FEATURE_VIEW, dataset_key

UPSTREAM, DOWNSTREAM = "upstream", "downstream"
TERMINAL_STATES = ("COMPLETE", "FAIL", "ABORT")
BARRIERS = (FEATURE_VIEW,)
"""Kinds of dataset a walk reports but does not walk through (see the module's docstring)."""


def parse_time(value: Any) -> dt.datetime | None:
    """An event's ISO time as an aware datetime (UTC when it names no zone); None when missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _iso(when: dt.datetime | None) -> str | None:
    return None if when is None else when.isoformat()


def _public(facet: Mapping[str, Any] | None) -> dict[str, Any]:
    """A facet's own fields, without OpenLineage's ``_producer`` and ``_schemaURL``."""
    return {k: v for k, v in (facet or {}).items() if not k.startswith("_")}


@dataclass(frozen=True)
class DatasetState:
    """A dataset as one run read or wrote it: identity, kind, content digest, rows, schema, our properties."""

    key: str
    namespace: str
    name: str
    kind: str | None = None
    version: str | None = None
    rows: int | None = None
    fields: tuple[tuple[str, str], ...] = ()
    properties: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_event(cls, item: Mapping[str, Any]) -> DatasetState:
        """Read one entry of an event's ``inputs`` or ``outputs``."""
        facets = item.get("facets") or {}
        ours = _public(facets.get(FACET))
        nested = ours.pop("properties", None)  # a facet class may keep the properties in a field of their own
        ours = {**nested, **ours} if isinstance(nested, dict) else ours
        statistics = {**(item.get("inputFacets") or {}), **(item.get("outputFacets") or {}), **facets}
        rows = (statistics.get("inputStatistics") or statistics.get("outputStatistics") or {}).get("rowCount")
        schema = (facets.get("schema") or {}).get("fields") or []
        namespace, name = str(item.get("namespace", "")), str(item.get("name", ""))
        return cls(dataset_key(namespace, name), namespace, name, ours.pop("kind", None),
                   (facets.get("version") or {}).get("datasetVersion"), rows,
                   tuple((str(f.get("name")), str(f.get("type", ""))) for f in schema), ours)

    def merged(self, other: DatasetState) -> DatasetState:
        """This state completed by what ``other`` (a later event of the same run) knows."""
        return replace(self, kind=other.kind or self.kind, version=other.version or self.version,
                       rows=other.rows if other.rows is not None else self.rows, fields=other.fields or self.fields,
                       properties={**self.properties, **other.properties})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"key": self.key, "namespace": self.namespace, "name": self.name, "kind": self.kind,
                "version": self.version, "rows": self.rows, "fields": [list(f) for f in self.fields],
                "properties": self.properties}


@dataclass
class JobRun:
    """One run of one job (an Airflow task try): when, how it ended, our run facet, what it read and wrote."""

    run_id: str
    job: str
    namespace: str = ""
    started: dt.datetime | None = None
    ended: dt.datetime | None = None
    state: str = ""
    facets: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, DatasetState] = field(default_factory=dict)
    outputs: dict[str, DatasetState] = field(default_factory=dict)

    def add(self, event: Mapping[str, Any]) -> None:
        """Fold one more event of this run in (any order; a repeated event changes nothing)."""
        when, kind = parse_time(event.get("eventTime")), str(event.get("eventType") or "")
        if when is not None and (self.started is None or when < self.started):
            self.started = when
        if kind in TERMINAL_STATES:  # how the run ended: its latest terminal event
            if self.ended is None or when is None or when >= self.ended:
                self.ended, self.state = when or self.ended, kind
        elif kind and self.state not in TERMINAL_STATES:
            self.state = kind
        self.facets.update(_public(((event.get("run") or {}).get("facets") or {}).get(FACET)))
        for side, items in ((self.inputs, event.get("inputs")), (self.outputs, event.get("outputs"))):
            for item in items or ():
                state = DatasetState.from_event(item)
                side[state.key] = side[state.key].merged(state) if state.key in side else state

    def summary(self) -> dict[str, Any]:
        """The run without its datasets: job, times, state, our facet (commit, config hash, trigger, DAG run ids).

        ``openlineage_run_id`` is the event's ``runId``; ``run_id`` (from our facet) is Airflow's DAG run.
        """
        return {"job": self.job, "started": _iso(self.started), "ended": _iso(self.ended), "state": self.state,
                **self.facets, "openlineage_run_id": self.run_id}


@dataclass(frozen=True)
class Reach:
    """What a walk from ``start`` found: runs, and datasets as the linking run saw them, nearest first."""

    start: str
    direction: str
    datasets: list[tuple[DatasetState, int]]
    runs: list[JobRun]

    def of_kind(self, *kinds: str) -> list[DatasetState]:
        """The datasets found of these kinds, nearest first."""
        return [state for state, _ in self.datasets if state.kind in kinds]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return {"start": self.start, "direction": self.direction,
                "datasets": [{**s.to_dict(), "distance": d} for s, d in self.datasets],
                "runs": [r.summary() for r in self.runs]}


class LineageGraph:
    """Datasets and job runs from a list of OpenLineage events; walks upstream and downstream of a dataset."""

    def __init__(self, runs: Iterable[JobRun]) -> None:
        """Index ``runs`` by id and each dataset by the runs that wrote and read it (oldest first)."""
        self.runs = {run.run_id: run for run in sorted(runs, key=_start_order)}
        self.producers: dict[str, list[JobRun]] = defaultdict(list)
        self.consumers: dict[str, list[JobRun]] = defaultdict(list)
        self.datasets: dict[str, DatasetState] = {}
        for run in self.runs.values():
            for side, index in ((run.inputs, self.consumers), (run.outputs, self.producers)):
                for key, state in side.items():
                    index[key].append(run)
                    self.datasets[key] = self.datasets[key].merged(state) if key in self.datasets else state

    @classmethod
    def from_events(cls, events: Iterable[Mapping[str, Any]]) -> LineageGraph:
        """Build the graph; events without a run id or a job name are skipped."""
        runs: dict[str, JobRun] = {}
        for event in events:
            run_id, job = (event.get("run") or {}).get("runId"), event.get("job") or {}
            if not run_id or not job.get("name"):
                continue
            run = runs.setdefault(run_id, JobRun(run_id, str(job["name"]), str(job.get("namespace", ""))))
            run.add(event)
        return cls(runs.values())

    def kind(self, key: str) -> str | None:
        """The dataset's kind, as any event named it."""
        state = self.datasets.get(key)
        return state.kind if state else None

    def find(self, kind: str, name: str, namespace: str | None = None) -> list[str]:
        """The keys of the datasets of ``kind`` called ``name`` (in ``namespace`` when given)."""
        return sorted(key for key, s in self.datasets.items()
                      if s.kind == kind and s.name == name and namespace in (None, s.namespace))

    def upstream(self, key: str, depth: int | None = None) -> Reach:
        """Everything ``key`` came from, ``depth`` runs deep at most (None: all the way)."""
        return self._walk(key, UPSTREAM, depth)

    def downstream(self, key: str, depth: int | None = None) -> Reach:
        """Everything made from ``key``, ``depth`` runs deep at most (None: all the way)."""
        return self._walk(key, DOWNSTREAM, depth)

    def _walk(self, start: str, direction: str, depth: int | None) -> Reach:
        """Breadth first over runs; a dataset is entered again only with a looser time bound than before."""
        up = direction == UPSTREAM
        links, far = (self.producers, "inputs") if up else (self.consumers, "outputs")
        queue: deque[tuple[str, dt.datetime | None, int]] = deque([(start, None, 0)])
        bounds: dict[str, dt.datetime | None] = {start: None}
        found: dict[str, tuple[DatasetState, int]] = {}
        runs: dict[str, JobRun] = {}
        while queue:
            key, bound, distance = queue.popleft()
            if depth is not None and distance >= depth:
                continue
            for run in links.get(key, ()):
                if not _in_time(run.started, bound, up):
                    continue
                runs.setdefault(run.run_id, run)
                for next_key, state in getattr(run, far).items():
                    found.setdefault(next_key, (state, distance + 1))
                    if state.kind in BARRIERS or next_key in bounds and not _looser(run.started, bounds[next_key], up):
                        continue
                    bounds[next_key] = run.started
                    queue.append((next_key, run.started, distance + 1))
        found.pop(start, None)
        datasets = sorted(found.values(), key=lambda item: item[1])
        return Reach(start, direction, datasets, list(runs.values()))


def _start_order(run: JobRun) -> tuple[dt.datetime, str]:
    return (run.started or dt.datetime.min.replace(tzinfo=dt.UTC), run.run_id)


def _in_time(started: dt.datetime | None, bound: dt.datetime | None, up: bool) -> bool:
    """Upstream: the run started no later than the bound; downstream: no earlier (unknown times always count)."""
    if started is None or bound is None:
        return True
    return started <= bound if up else started >= bound


def _looser(new: dt.datetime | None, old: dt.datetime | None, up: bool) -> bool:
    """Whether ``new`` lets more runs through than ``old`` (None: no bound at all)."""
    if old is None:
        return False
    if new is None:
        return True
    return new > old if up else new < old
