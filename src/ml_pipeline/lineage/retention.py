"""Snapshot retention: which training runs' frozen inputs may be deleted, deleting them, and the tombstone left.

Each training run freezes its input under its run folder, ``<lake>/runs/<pipeline id>/<run id>/``: the snapshot
(``snapshot.parquet``, or one ``<partition_by>=<value>/snapshot.parquet`` per slice), the features, the validation
reports. A run folder goes when it is older than its model's ``lineage.keep_snapshots_days`` (its age: that of its
newest file) and no version aliased ``champion``, ``previous_champion`` (or ``challenger``, the next champion
perhaps) was trained on it (the version tag ``lineage.data.snapshot_uri``, comma-separated slices included): those
can always be rebuilt, whatever their age. Deleting leaves ``SNAPSHOT_DELETED.json`` in the folder, so
``reproduce`` refuses with "deleted by retention on <date>" rather than "missing", and never reads a half-deleted
snapshot.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import fsspec

from ml_pipeline.data.uris import join_uri

TOMBSTONE = "SNAPSHOT_DELETED.json"
SNAPSHOT_TAG = "lineage.data.snapshot_uri"
# mlflow_registry's CHAMPION, PREVIOUS_CHAMPION and CHALLENGER: the version serving, the one a rollback restores,
# and the one deployment may promote next (monitoring profiles a new champion from its snapshot).
PROTECTING_ALIASES = ("champion", "previous_champion", "challenger")


@dataclass(frozen=True)
class RunFolder:
    """One training run's folder in the lake: its size and the age of its newest file."""

    model: str
    uri: str
    bytes: int
    age_days: float


@dataclass(frozen=True)
class Decision:
    """What retention decided for one run folder, and why."""

    model: str
    run_folder_uri: str
    bytes: int
    age_days: float
    reason: str


class Doomed(Decision):
    """A run folder that retention deletes."""


class Protected(Decision):
    """A run folder kept whatever its age (the aliased version trained on it)."""


@dataclass(frozen=True)
class ModelRetention:
    """One model's rule: its pipelines' run folders, how long they are kept, the snapshots that are never deleted.

    Attributes:
        model: The model's name.
        keep_days: Its ``lineage.keep_snapshots_days``.
        pipeline_ids: The ``runs/<id>`` folders of its training runs (its training DAG's id, ``in_process_<model>``).
        protected: Snapshot URI (one per slice) -> why it is kept, e.g. ``champion (version 3)``.
        blocked: Why nothing of this model may be deleted (an aliased version records no snapshot), or None.
    """

    model: str
    keep_days: int
    pipeline_ids: tuple[str, ...]
    protected: Mapping[str, str] = field(default_factory=dict)
    blocked: str | None = None


@dataclass
class GcPlan:
    """What ``collect`` deletes, what it keeps whatever the age (with the reason), and the young runs it keeps."""

    doomed: list[Doomed] = field(default_factory=list)
    protected: list[Protected] = field(default_factory=list)
    young: list[RunFolder] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def doomed_bytes(self) -> int:
        """Bytes the plan frees."""
        return sum(d.bytes for d in self.doomed)


def protected_snapshots(client, model: str) -> tuple[dict[str, str], str | None]:
    """Snapshot URIs of ``model``'s champion, previous champion and challenger -> why kept; and a blocking reason.

    Args:
        client: An ``MlflowClient`` of the model's registry.
        model: The registered model's name.

    Returns:
        The protected URIs (each slice of a combined snapshot on its own), and, when an aliased version records no
        snapshot URI (so its run folder cannot be told), why none of this model's runs may be deleted.

    Raises:
        TransientError: MLflow is unreachable: no answer is never read as "no champion".
    """
    from ml_pipeline.registry.mlflow_registry import alias_version, registered_model

    protected: dict[str, str] = {}
    for alias in PROTECTING_ALIASES:
        version = alias_version(client, model, alias)
        if version is None:
            continue
        uris = version.tags.get(SNAPSHOT_TAG) or client.get_run(version.run_id).data.tags.get(SNAPSHOT_TAG)
        if not uris:
            return protected, (f"{alias} (version {version.version}) records no {SNAPSHOT_TAG}: its run folder "
                               "cannot be told apart, so none of this model's runs is deleted")
        why = f"{alias} (version {version.version})"
        for uri in (u.strip() for u in uris.split(",") if u.strip()):
            protected[uri] = f"{protected[uri]}, {why}" if uri in protected else why
    if not protected and registered_model(client, model) is None:  # fail closed: maybe the wrong registry
        return protected, (f"{model} is not registered in {client.tracking_uri}: which snapshots its champion needs "
                           "cannot be told, so none of its runs is deleted (pass the --tracking-uri that "
                           "registered it)")
    return protected, None


def list_run_folders(lake_uri: str, model: str, pipeline_ids: Sequence[str],
                     now: dt.datetime | None = None) -> list[RunFolder]:
    """The run folders of ``model``'s training pipelines with their bytes and age; deleted ones (tombstoned) left out.

    A folder's age is that of its newest file (a rerun of an old run makes it young), else the folder's own.
    """
    now = now or dt.datetime.now(dt.UTC)
    folders = []
    for pipeline_id in pipeline_ids:
        base = join_uri(lake_uri, "runs", pipeline_id)
        fs, path = fsspec.core.url_to_fs(base)
        if not fs.isdir(path):
            continue
        for entry in sorted(fs.ls(path, detail=True), key=lambda e: e["name"]):
            if entry["type"] != "directory":
                continue
            files = fs.find(entry["name"], detail=True)
            if any(name.rsplit("/", 1)[-1] == TOMBSTONE for name in files):
                continue
            times = [t for t in (_mtime(info) for info in files.values()) if t] or [_mtime(entry) or now]
            age = (now - max(times)).total_seconds() / 86_400
            uri = join_uri(base, entry["name"].rstrip("/").rsplit("/", 1)[-1])
            folders.append(RunFolder(model, uri, sum(int(i.get("size") or 0) for i in files.values()), age))
    return folders


def plan_gc(lake_uri: str, models: Sequence[ModelRetention], now: dt.datetime | None = None) -> GcPlan:
    """Decide which run folders go: older than their model's ``keep_days`` and not a protected version's input."""
    plan = GcPlan()
    for rule in models:
        folders = list_run_folders(lake_uri, rule.model, rule.pipeline_ids, now)
        found = {uri for folder in folders for uri in rule.protected if _inside(uri, folder.uri)}
        blocked = rule.blocked
        for uri in sorted(set(rule.protected) - found):
            tombstone = snapshot_tombstone(uri)
            state = f"deleted on {tombstone['deleted_at']}" if tombstone else "not in this lake's run folders"
            plan.warnings.append(f"{rule.model}: {rule.protected[uri]} was trained on {uri}: {state}")
            if tombstone is None:  # fail closed: a protected snapshot we cannot see may be one we are about to delete
                blocked = blocked or (f"{rule.protected[uri]} was trained on {uri}, which is not among this lake's "
                                      "run folders (another --lake?): none of this model's runs is deleted")
        for folder in folders:
            inside = [uri for uri in rule.protected if _inside(uri, folder.uri)]
            reasons = list(dict.fromkeys(rule.protected[uri] for uri in inside))  # slices: one reason each
            if reasons or (blocked and folder.age_days > rule.keep_days):
                plan.protected.append(Protected(rule.model, folder.uri, folder.bytes, folder.age_days,
                                                "; ".join(reasons) or blocked or ""))
            elif folder.age_days > rule.keep_days:
                plan.doomed.append(Doomed(rule.model, folder.uri, folder.bytes, folder.age_days,
                                          f"older than {rule.keep_days} days; no champion, previous champion or "
                                          "challenger was trained on it"))
            else:
                plan.young.append(folder)
    return plan


def collect(plan: GcPlan, now: dt.datetime | None = None) -> list[str]:
    """Delete each doomed run folder's content (snapshot, slices, features, reports), leaving its tombstone.

    The tombstone is written first: a deletion cut short still reads as deleted, never as a valid snapshot.

    Returns:
        The tombstones' URIs.
    """
    deleted_at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    written = []
    for doomed in plan.doomed:
        fs, path = fsspec.core.url_to_fs(doomed.run_folder_uri)
        tombstone = {"deleted_at": deleted_at, "reason": doomed.reason, "bytes": doomed.bytes,
                     "model": doomed.model, "run_folder": doomed.run_folder_uri, "deleted_by": "ml-pipeline gc"}
        with fs.open(f"{path.rstrip('/')}/{TOMBSTONE}", "w") as handle:
            json.dump(tombstone, handle, indent=2)
        for entry in fs.ls(path, detail=False):
            if entry.rstrip("/").rsplit("/", 1)[-1] != TOMBSTONE:
                fs.rm(entry, recursive=True)
        written.append(join_uri(doomed.run_folder_uri, TOMBSTONE))
    return written


def snapshot_tombstone(snapshot_uri: str) -> dict | None:
    """The tombstone retention left where ``snapshot_uri`` (or one of its comma-separated slices) was, or None.

    Returns:
        The tombstone (``deleted_at``, ``reason``, ``bytes``, ``model``, ``run_folder``) plus ``snapshot_uri``:
        the slice it was found for.
    """
    for uri in (u.strip() for u in snapshot_uri.split(",") if u.strip()):
        folder = uri.rstrip("/").rsplit("/", 1)[0]
        folders = [folder]
        if "=" in folder.rsplit("/", 1)[-1]:  # a ``<partition_by>=<value>`` slice: the run folder is its parent
            folders.append(folder.rsplit("/", 1)[0])
        for candidate in folders:
            fs, path = fsspec.core.url_to_fs(join_uri(candidate, TOMBSTONE))
            if fs.isfile(path):
                with fs.open(path, "r") as handle:
                    return {**json.load(handle), "snapshot_uri": uri}
    return None


def describe_tombstone(tombstone: Mapping) -> str:
    """One line for a refusal: ``snapshot <uri> was deleted by retention on <date> (<reason>; <size>)``."""
    size = f"{tombstone.get('bytes', 0) / 1e6:.1f} MB"
    return (f"snapshot {tombstone.get('snapshot_uri') or tombstone.get('run_folder')} was deleted by retention "
            f"on {tombstone.get('deleted_at')} ({tombstone.get('reason')}; {size}): it cannot be rebuilt")


def _inside(uri: str, folder_uri: str) -> bool:
    """Whether ``uri`` lies in ``folder_uri``, however each spells its scheme (``/x``, ``file:///x``)."""
    return _key(uri).startswith(_key(folder_uri).rstrip("/") + "/")


def _key(uri: str) -> str:
    fs, path = fsspec.core.url_to_fs(uri)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return f"{protocol}://{fs._strip_protocol(path)}"


def _mtime(info: Mapping) -> dt.datetime | None:
    """A file's modification time from fsspec's info (local ``mtime`` seconds, S3 ``LastModified``)."""
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value if isinstance(value, dt.datetime) else None
