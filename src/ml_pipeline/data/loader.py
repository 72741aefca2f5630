"""Load daily partitions of a dataset and freeze them into a per-run snapshot."""

from __future__ import annotations

import datetime as dt
import functools
import logging

import fsspec
import polars as pl

from ml_pipeline.data.lake import count_rows, exists, fingerprint, join_uri, list_parquet_files, read_parquet
from ml_pipeline.data.paths import check_partition_value
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.errors import PermanentError, TransientError

log = logging.getLogger(__name__)
NULL_SLICE = "__null__"  # the partition_by value of rows whose column is null


def slice_filter(column: str, value: str) -> pl.Expr:
    """Rows whose ``column``, as text, is ``value`` (``NULL_SLICE``: rows where it is null)."""
    return pl.col(column).is_null() if value == NULL_SLICE else pl.col(column).cast(pl.String) == value


def slice_values(series: pl.Series) -> set[str]:
    """The ``partition_by`` values of a column, as ``slice_filter`` matches them."""
    return {NULL_SLICE if v is None else v for v in series.cast(pl.String).unique().to_list()}


class MissingPartitionError(TransientError, FileNotFoundError):
    """An expected daily partition has no data yet: it may still land, so a later try may succeed."""


class DeletedPartitionError(PermanentError, FileNotFoundError):
    """A daily partition is gone although it had landed: a hole in the data, not lateness. Retrying cannot help."""

    @classmethod
    def of(cls, uri: str, evidence: str) -> DeletedPartitionError:
        """The error for partition ``uri``, with ``evidence`` that it had landed; it names the fix."""
        dataset, _, day = uri.rstrip("/").rpartition("/")
        return cls(f"partition {day} of dataset {dataset} is missing although {evidence}: it was deleted (or "
                   f"moved), and waiting will not bring it back. Restore {uri} (or land that day again, "
                   "`ml-pipeline generate-data` for generated data), then clear the failed task.")


CLOCK_SKEW = dt.timedelta(hours=1)


class PartitionOutsideDataError(PermanentError, FileNotFoundError):
    """A daily partition no data can exist for: a day after today, or before the dataset's first day."""


def _future(uri: str, day: dt.date | None) -> PartitionOutsideDataError | None:
    """The error for partition ``uri`` of a day after today (UTC), which no data can have landed for, if it is.

    A manual run with a mistyped logical date asked for it, and was retried for hours as "not landed yet". A clock
    up to an hour behind (a worker's, at midnight) still takes the new day for today.
    """
    today = (dt.datetime.now(dt.UTC) + CLOCK_SKEW).date()
    if day is not None and day > today:
        return PartitionOutsideDataError(
            f"partition {uri} is of {day}, after today ({today} UTC): no data can have landed for it, and waiting "
            "would only retry for hours. The run's logical date lies in the future (a mistyped manual run?): "
            "trigger it with a date up to today.")
    return None


def _before_the_data(uri: str, day: dt.date, later: str) -> FileNotFoundError:
    """The error for partition ``uri`` of ``day`` holding no file while the ``later`` day has landed.

    Before the dataset's first day, with no folder of its own, it is a window that begins before the data does (a
    backfill from too far back was "deleted (or moved)": restore what never was); after it, or a folder whose files
    are gone (the first day's, say), a hole: the day was deleted.
    """
    dataset = uri.rstrip("/").rsplit("/", 1)[0]
    first = _first_landed_day(dataset)
    if first is not None and first > day and not exists(uri):
        return PartitionOutsideDataError(
            f"partition {uri} is of {day}, before the first day dataset {dataset} holds ({first}): the run's "
            "window begins before the data does (a backfill too far back, or `data.lookback_days` longer than the "
            "history). Run it with a later logical date, or land the earlier days (`ml-pipeline generate-data` for "
            "generated data).")
    return DeletedPartitionError.of(uri, f"the later partition {later} has landed")


def outside_the_data(uri: str) -> PartitionOutsideDataError | None:
    """Why partition ``uri``, which holds no file, can never land; None when it may still land.

    A day after today, or before the dataset's first day (with no folder of its own), cannot; a hole between landed
    days may still land late.
    """
    day = partition_day(uri)
    if (future := _future(uri, day)) or day is None:
        return future
    later = later_landed_day(uri)
    error = _before_the_data(uri, day, later) if later is not None else None
    return error if isinstance(error, PartitionOutsideDataError) else None


def _first_landed_day(dataset: str) -> dt.date | None:
    """The first day of ``dataset`` holding parquet files, if any."""
    return next((day for day in day_folders(dataset) if list_parquet_files(partition_uri(dataset, day))), None)


def day_folders(dataset_uri: str) -> list[dt.date]:
    """The days ``dataset_uri`` has a ``YYYY-MM-DD`` folder for, oldest first (none when it is no folder)."""
    fs, path = fsspec.core.url_to_fs(dataset_uri)
    try:  # listed afresh (s3fs keeps listings in the process)
        names = fs.ls(path, detail=False, refresh=True)
    except FileNotFoundError:
        return []
    return sorted({day for name in names if (day := partition_day(name.rstrip("/"))) is not None})


def partition_dates(end: dt.date, days: int) -> list[dt.date]:
    """The ``days`` dates ending at ``end``, oldest first."""
    return [end - dt.timedelta(days=offset) for offset in range(days - 1, -1, -1)]


def partition_uri(dataset_uri: str, day: dt.date) -> str:
    """URI of one daily partition folder: ``<dataset>/<YYYY-MM-DD>``."""
    return join_uri(dataset_uri, day.isoformat())


def load_partition(uri: str) -> pl.DataFrame:
    """Read every parquet file of one partition folder; raise if there is none.

    Raises:
        PartitionOutsideDataError: It has no files, and is of a day after today or before the dataset's first day.
        DeletedPartitionError: It has no files although a later day of the same dataset has landed (a hole).
        MissingPartitionError: It has no files and no later day has landed: it may not have landed yet.
    """
    files = list_parquet_files(uri)
    if not files:
        check_nothing_else(uri)
        day = partition_day(uri)
        if future := _future(uri, day):
            raise future
        later = later_landed_day(uri)
        if later is not None and day is not None:
            raise _before_the_data(uri, day, later)
        what = "has no parquet files" if exists(uri) else "does not exist (no such directory)"
        raise MissingPartitionError(
            f"partition {uri} {what}. Generate it (`ml-pipeline generate-data`) "
            "or wait for the upstream job that writes it."
        )
    return combine_files(uri, files, [utc_times(read_parquet(f)) for f in files])


def utc_times(frame: pl.DataFrame) -> pl.DataFrame:
    """Every datetime column as microseconds in UTC, so days written by different jobs concatenate and join alike.

    Naive ones are read as UTC (as validation reads them), zoned ones converted, milliseconds widened.
    """
    utc = pl.Datetime("us", "UTC")
    return frame.with_columns(
        (pl.col(name).dt.replace_time_zone("UTC") if dtype.time_zone is None
         else pl.col(name).dt.convert_time_zone("UTC")).cast(utc)
        for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime) and dtype != utc)


def combine_files(uri: str, files: list[str], frames: list[pl.DataFrame]) -> pl.DataFrame:
    """The files of one partition as one frame, columns matched by name.

    Raises:
        DataValidationError: The files disagree on their columns, or on a column's type beyond widening (an
            integer amount in one file, a float in another, is widened): named with the fix.
    """
    columns = frames[0].columns
    for file, frame in zip(files[1:], frames[1:], strict=True):
        lacks, extra = [c for c in columns if c not in frame.columns], [c for c in frame.columns if c not in columns]
        if lacks or extra:
            differ = " and ".join(part for part in (f"lacks {lacks}" if lacks else "",
                                                    f"has {extra} besides" if extra else "") if part)
            raise DataValidationError(f"partition {uri}: its files disagree on their columns: {file} {differ} the "
                                      f"columns of {files[0]}. Rewrite the odd file with the partition's columns, "
                                      "or remove it.")
    differ = {c: [frame.schema[c] for frame in frames] for c in columns}
    differ = {c: types for c, types in differ.items()  # numbers widen (Int64 and Float64 read as Float64)
              if len(known := set(types) - {pl.Null}) > 1 and not all(t.is_numeric() for t in known)}
    if differ:
        named = {c: [f"{file.rsplit('/', 1)[-1]}: {t}" for file, t in zip(files, types, strict=True)]
                 for c, types in differ.items()}
        raise DataValidationError(f"partition {uri}: its files disagree on the type of {named}. Rewrite the odd "
                                  "file with the partition's types, or remove it.")
    return pl.concat([frame.select(columns) for frame in frames], how="vertical_relaxed")


def check_nothing_else(uri: str) -> None:
    """Raise ``DataValidationError`` when a folder without parquet files holds other data (a CSV, day folders).

    An empty or absent folder may still land; one holding something else never will by waiting.
    """
    fs, path = fsspec.core.url_to_fs(uri)
    if not fs.isdir(path):
        return
    own = path.rstrip("/").rsplit("/", 1)[-1]  # an object store may list the folder's own marker
    names = sorted(name.rstrip("/").rsplit("/", 1)[-1] for name in fs.ls(path, detail=False))
    held = [name for name in names if not name.startswith(("_", ".")) and not name.endswith(".tmp") and name != own]
    if not held:
        return
    days = [name for name in held if partition_day(name) is not None]
    fix = (f"it looks like the dataset folder: name one day's folder (e.g. {join_uri(uri, days[-1])})" if days else
           "only *.parquet files directly inside a day's folder are read: write the data as parquet there")
    raise DataValidationError(f"partition {uri} has no parquet files but holds {', '.join(held[:5])}"
                              f"{' …' if len(held) > 5 else ''}: {fix}.")


def later_landed_day(uri: str) -> str | None:
    """The first day after partition ``uri`` that holds parquet files in the same dataset folder, if any."""
    day = partition_day(uri)
    if day is None:
        return None
    dataset = uri.rstrip("/").rsplit("/", 1)[0]
    later = [other for other in day_folders(dataset) if other > day]
    return next((other.isoformat() for other in later if list_parquet_files(partition_uri(dataset, other))), None)


def window_uris(dataset_uri: str, end: dt.date, days: int) -> list[str]:
    """URIs of the ``days`` daily partitions ending at ``end``, oldest first."""
    return [partition_uri(dataset_uri, day) for day in partition_dates(end, days)]


def load_partitions(dataset_uri: str, end: dt.date, days: int) -> tuple[pl.DataFrame, list[str]]:
    """Load ``days`` daily partitions ending at ``end``; return the frame and the partition URIs."""
    uris = window_uris(dataset_uri, end, days)
    return pl.concat([load_partition(uri) for uri in uris], how="diagonal_relaxed"), uris


def partition_day(uri: str) -> dt.date | None:
    """The date a daily partition folder is named after, or None for any other URI."""
    try:
        return dt.date.fromisoformat(uri.rstrip("/").rsplit("/", 1)[-1])
    except ValueError:
        return None


def row_counts(dataset_uri: str, days: list[dt.date], column: str | None = None,
               value: str | None = None) -> dict[dt.date, int]:
    """Rows of each existing daily partition (only those whose ``column`` is ``value`` when given).

    A day with a file that cannot be read is left out with a warning: its own validation names the file.
    """
    counts = {}
    for day in days:
        uri = partition_uri(dataset_uri, day)
        if list_parquet_files(uri):
            try:
                counts[day] = _rows_in(uri, fingerprint(uri)[0], column, value)
            except (DataValidationError, pl.exceptions.ColumnNotFoundError) as exc:
                log.warning("row counts: left out %s: %s", uri, exc)
    return counts


@functools.lru_cache(maxsize=1024)
def _rows_in(uri: str, digest: str, column: str | None, value: str | None) -> int:
    """Rows of one partition, remembered per content fingerprint: a window's days are counted once per process."""
    files = list_parquet_files(uri)
    if column is None:
        return sum(count_rows(f) for f in files)
    return sum(read_parquet(f, columns=[column]).filter(slice_filter(column, value)).height for f in files)


def partition_values(dataset_uri: str, end: dt.date, days: int, column: str) -> list[str]:
    """Distinct values of ``column`` in the window, sorted, reading only that column.

    A file that cannot be read is skipped with a warning: each slice's load or validation reads every file and
    quarantines that slice, naming the file. Only when no file at all can be read is there nothing to list: the
    error names the files. A value that cannot name a folder (``../x``) is refused (``UnsafePathError``).
    """
    uris = [partition_uri(dataset_uri, day) for day in partition_dates(end, days)]
    values: set[str] = set()
    unreadable: list[str] = []
    readable = 0
    for uri in uris:
        for file in list_parquet_files(uri):
            try:
                frame = read_parquet(file, columns=[column])
            except pl.exceptions.ColumnNotFoundError as exc:
                raise DataValidationError(f"{file}: no column '{column}' to partition by (data.partition_by)") from exc
            except DataValidationError as exc:
                log.warning("partition values: skipped %s", exc)
                unreadable.append(file)
                continue
            readable += 1
            values.update(slice_values(frame[column]))
    if unreadable and not readable:
        raise DataValidationError(f"no readable parquet file to list the values of '{column}' (data.partition_by) "
                                  f"from: {', '.join(unreadable)} cannot be read. Rewrite them from their source, "
                                  "or remove them.")
    return sorted(check_partition_value(value, column) for value in values)
