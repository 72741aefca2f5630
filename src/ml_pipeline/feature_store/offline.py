"""The offline store's files: one parquet file per feature view and day, and a manifest of what it came from.

The manifest says what the day was computed from (each source partition's fingerprint), so anyone can tell whether a
day's features are fresh. Feast's file sources name these files; training reads them directly (``read_view``).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

import fsspec

from ml_pipeline.data.lake import join_uri, write_parquet
from ml_pipeline.feature_store.settings import FeatureStoreSettings

if TYPE_CHECKING:
    import polars as pl

    from ml_pipeline.features.registry import FeatureView

log = logging.getLogger(__name__)


def data_uri(settings: FeatureStoreSettings, model: str, view: str, day: dt.date) -> str:
    return join_uri(settings.offline_uri(model, view), "data", f"{day.isoformat()}.parquet")


def manifest_uri(settings: FeatureStoreSettings, model: str, view: str, day: dt.date) -> str:
    return join_uri(settings.offline_uri(model, view), "_manifest", f"{day.isoformat()}.json")


def write_day(settings: FeatureStoreSettings, model: str, view: str, day: dt.date, table: pl.DataFrame,
              sources: Mapping[str, str], run_id: str) -> dict:
    """Write one day of a view, then its manifest (``sources``: partition URI → fingerprint it was computed from).

    The manifest is written last: a day whose manifest matches the data is complete.
    """
    uri = write_parquet(table, data_uri(settings, model, view, day))
    manifest = {"model": model, "view": view, "day": day.isoformat(), "rows": table.height, "data_uri": uri,
                "sources": dict(sources), "run_id": run_id,
                "computed_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
    fs, path = fsspec.core.url_to_fs(manifest_uri(settings, model, view, day))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    partial = f"{path}.{uuid.uuid4().hex[:8]}.tmp"  # whole or not at all: a worker killed mid-write leaves no half
    with fs.open(partial, "w") as handle:
        json.dump(manifest, handle, indent=2)
    fs.mv(partial, path)
    return manifest


def read_manifest(settings: FeatureStoreSettings, model: str, view: str, day: dt.date) -> dict | None:
    """The day's manifest; None when it was never written or cannot be read (the day is computed again)."""
    uri = manifest_uri(settings, model, view, day)
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return None
    with fs.open(path) as handle:
        text = handle.read()
    try:
        manifest = json.loads(text)
    except ValueError:
        manifest = None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sources"), dict):
        log.warning("the feature manifest %s cannot be read (%d bytes): the day counts as not computed", uri,
                    len(text))
        return None
    return manifest


def stale_reason(manifest: dict | None, current: Mapping[str, str]) -> str | None:
    """Why a day's features do not match the data as it is now; None when they are fresh.

    ``current`` maps partition URI → fingerprint of the partitions the day depends on, a missing partition absent.
    """
    if manifest is None:
        return "not computed"
    for uri, digest in manifest["sources"].items():
        now = current.get(uri)
        if now != digest:
            return f"{uri} changed since ({'gone' if now is None else 'new fingerprint'})"
    added = sorted(set(current) - set(manifest["sources"]))
    return f"computed before {', '.join(added)} landed" if added else None


def read_view(settings: FeatureStoreSettings, model: str, view: FeatureView, first: dt.date, last: dt.date,
              schema: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """The rows of ``view`` in its day files from ``first`` to ``last``: entity, ``event_time`` and features.

    ``schema`` gives the entity's and ``event_time``'s types (the examples' own): the rows are cast to them, and an
    empty frame of them comes back when no day file is there (every example then gets nulls, as from Feast).
    """
    import polars as pl

    from ml_pipeline.data.lake import list_parquet_files, read_parquet
    from ml_pipeline.features.registry import polars_type

    folder = join_uri(settings.offline_uri(model, view.name), "data")
    wanted = [uri for uri in list_parquet_files(folder) if _day_of(uri) is not None and first <= _day_of(uri) <= last]
    types = {view.entity: schema[view.entity], "event_time": schema["event_time"],
             **{name: polars_type(kind) for name, kind in view.features.items()}}
    frames = [read_parquet(uri, columns=list(types)).cast(types) for uri in sorted(wanted)]
    return pl.concat(frames) if frames else pl.DataFrame(schema=types)


def _day_of(uri: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(uri.rsplit("/", 1)[-1].removesuffix(".parquet"))
    except ValueError:
        return None
