"""Read and write the data lake through URIs (``file://``, or ``s3://`` through s3fs).

Every path is a URI resolved by fsspec, so the same code reads a local folder
and an object store. Nothing here knows about Airflow.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import logging

import fsspec
import polars as pl

# The URI helpers live in a module without data libraries (DAG files use them); re-exported here.
from ml_pipeline.data.uris import join_uri as join_uri
from ml_pipeline.data.uris import parse_uri_map as parse_uri_map
from ml_pipeline.data.uris import resolve_uri as resolve_uri
from ml_pipeline.data.uris import to_uri as to_uri

log = logging.getLogger(__name__)


def exists(uri: str) -> bool:
    """Whether a file or folder exists at ``uri``."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.exists(path)


def is_file(uri: str) -> bool:
    """Whether a file (not a folder) exists at ``uri``."""
    fs, path = fsspec.core.url_to_fs(uri)
    return fs.isfile(path)


def list_parquet_files(folder_uri: str) -> list[str]:
    """The parquet files directly under ``folder_uri``, sorted, as URIs (a folder named ``*.parquet`` is none).

    Listed afresh: s3fs keeps listings in the process, so a folder listed before its data landed would stay empty.
    """
    fs, path = fsspec.core.url_to_fs(folder_uri)
    try:
        entries = fs.ls(path, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    protocol = folder_uri.split("://", 1)[0] if "://" in folder_uri else "file"
    files = sorted(info["name"] for info in entries if info["name"].endswith(".parquet") and info["type"] == "file")
    return [f"{protocol}://{p}" if not p.startswith(f"{protocol}://") else p for p in files]


def fingerprint(uri: str) -> tuple[str, dt.datetime | None]:
    """Identity of the data at ``uri`` and its newest modification time.

    The identity covers its parquet files' names, sizes and modification times: unchanged files give the same
    fingerprint, so a verdict on them can be reused.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    infos = [fs.info(path)] if fs.isfile(path) else [
        fs.info(p) for p in sorted(fs.ls(path, detail=False)) if p.endswith(".parquet")] if fs.exists(path) else []
    digest = hashlib.sha256()
    times = []
    for info in infos:
        mtime = _modified(info)
        times.append(mtime)
        digest.update(f"{info['name'].rsplit('/', 1)[-1]}|{info.get('size')}|{mtime}".encode())
    return digest.hexdigest()[:16], max((t for t in times if t), default=None)


def _modified(info: dict) -> dt.datetime | None:
    """A file's modification time from fsspec's info (local ``mtime`` seconds, S3 ``LastModified``)."""
    value = info.get("mtime", info.get("LastModified"))
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value if isinstance(value, dt.datetime) else None


def read_parquet(uri: str, columns: list[str] | None = None) -> pl.DataFrame:
    """Read one parquet file (or some of its columns); a corrupt file raises ``DataValidationError`` naming it."""
    from ml_pipeline.data.validator import DataValidationError

    with fsspec.open(uri, "rb") as handle:
        try:
            return pl.read_parquet(handle, columns=columns)
        except pl.exceptions.ComputeError as exc:
            raise DataValidationError(
                f"{uri} is not a readable parquet file ({exc}). Rewrite it from its source, or remove it."
            ) from exc


def count_rows(uri: str) -> int:
    """Rows of one parquet file, from its footer (no data read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from ml_pipeline.data.validator import DataValidationError

    with fsspec.open(uri, "rb") as handle:
        try:
            return pq.ParquetFile(handle).metadata.num_rows
        except pa.ArrowException as exc:
            raise DataValidationError(
                f"{uri} is not a readable parquet file ({exc}). Rewrite it from its source, or remove it.") from exc


def write_parquet(frame: pl.DataFrame, uri: str) -> str:
    """Write ``frame`` to ``uri`` atomically enough for a rerun to overwrite it; return the URI.

    The file is written beside its place and moved there whole, so a failed write (a full disk) leaves the file
    that was there before, and removes its half-written copy. A full disk is said with the file and the fix.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    tmp_path = f"{path}.tmp"
    try:
        with fs.open(tmp_path, "wb") as handle:
            frame.write_parquet(handle, compression="zstd", statistics=True)
    except BaseException as exc:
        with contextlib.suppress(Exception):  # the write's own error is the one to tell
            fs.rm(tmp_path)
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise OSError(exc.errno, f"no space left on the device (or quota) to write {uri} (what was there "
                          "before is kept): free space, e.g. old training snapshots with `ml-pipeline gc`, then "
                          "rerun") from exc
        raise
    fs.mv(tmp_path, path)
    return uri


def write_once(frame: pl.DataFrame, uri: str, digest: str | None = None) -> str:
    """Write a run's frozen input at ``uri``, never over other rows a model may have been trained on; its URI.

    The same rows there already: kept as they are. Other rows there (the run cleared and run again after late data
    landed): this frame goes beside it, ``<name>-<first 12 digits of its hash>.parquet``, so a version trained on
    the first stays reproducible. ``digest`` is ``hash_frame(frame)`` when the caller has it.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.exists(path):
        return write_parquet(frame, uri)
    digest = digest or hash_frame(frame)
    try:
        if hash_frame(read_parquet(uri)) == digest:
            return uri
    except Exception:  # damaged (a file written whole never is): left for `reproduce` to report, never replaced
        log.warning("%s does not read: writing the run's rows beside it", uri)
    return write_parquet(frame, f"{uri.removesuffix('.parquet')}-{digest[:12]}.parquet")


def hash_frame(frame: pl.DataFrame) -> str:
    """Content hash of a frame: stable across files, row groups and compression."""
    digest = hashlib.sha256()
    digest.update(",".join(f"{n}:{t}" for n, t in frame.schema.items()).encode())
    row_hashes = frame.hash_rows(seed=0)  # stable for a given polars version (recorded in lineage)
    digest.update(row_hashes.to_numpy().tobytes())
    return digest.hexdigest()
