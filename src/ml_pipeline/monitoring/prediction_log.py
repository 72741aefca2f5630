"""The prediction log: every scored row, written to the lake in the background as daily partitions.

``<lake>/predictions/<model>/<YYYY-MM-DD>/part-<HHMMSS>-<uuid8>.parquet``, one row per scored row: request id,
model and version, time (UTC), score, the entity key's value when the request carries one (labels that land later
join on it), then the features as received. ``PredictionLogWriter.log`` only appends references to a bounded
buffer under a lock, so the request never waits for polars or the lake: a flush thread builds the frames and
writes them. Nothing is lost silently: a full buffer drops and counts, a lake that fails spills to local disk
and the next flush moves the spilled files up first.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from ml_pipeline.data.lake import count_rows, join_uri, to_uri, write_parquet
from ml_pipeline.monitoring.prediction_frames import build_frame, empty_log, predictions_uri, read_predictions

log = logging.getLogger("ml_pipeline.prediction_log")
__all__ = ["PredictionLogWriter", "build_frame", "empty_log", "log_batch", "predictions_uri", "read_predictions"]

DROP_WARNING_SECONDS = 60.0
BACKGROUND_DUTY = 0.1  # share of the time the flush thread converts rows, unless it falls behind


class PredictionLogWriter:
    """Buffers scored rows and writes them to the lake from a daemon thread, spilling to disk when it fails.

    ``features`` maps each feature to its kind (``"string"`` or a numeric kind, as in the model's signature);
    a ``log`` call may name the features of the version that scored its rows, so a version swap that changes
    them is logged faithfully (the day's files then differ in columns; ``read_predictions`` aligns them).
    """

    def __init__(self, lake_uri: str, model: str, features: Mapping[str, str], spill_dir: Path, *,
                 entity_key: str | None = None, batch_rows: int = 5000, flush_seconds: float = 5.0,
                 max_buffered_rows: int = 200_000) -> None:
        self.lake_uri, self.model, self.features = to_uri(lake_uri), model, dict(features)
        self.spill_dir, self.entity_key = Path(spill_dir), entity_key
        self.batch_rows, self.flush_seconds, self.max_buffered_rows = batch_rows, flush_seconds, max_buffered_rows
        self._pending: list[tuple] = []
        self._buffered = self._in_flight = 0
        self._lock, self._flush_lock = threading.Lock(), threading.Lock()
        self._wake, self._stop = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._dropped_since_warning, self._last_warning = 0, 0.0
        self.written_rows = self.dropped_rows = self.files_written = 0
        self.last_error: str | None = None
        self.spilled_rows = sum(_rows_of(path) for path in self._spilled_files())  # left by an earlier process

    def log(self, request_id: str, version: str, rows: list[dict[str, Any]], scores: Sequence[float], *,
            features: Mapping[str, str] | None = None, at: dt.datetime | None = None) -> None:
        """Queue scored rows; never blocks on I/O. Rows beyond the buffer's bound are dropped and counted.

        ``features``: those of the version that scored the rows (default: the writer's); ``at``: when they were
        scored (default: now).
        """
        stamp = dt.datetime.now(dt.UTC) if at is None else at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        with self._lock:
            room = self.max_buffered_rows - self._buffered - self._in_flight
            if room < len(rows):
                self._count_drop(len(rows) - max(room, 0))
                rows, scores = rows[:max(room, 0)], scores[:max(room, 0)]
            if rows:
                self._pending.append((request_id, version, stamp, rows, scores, features or self.features))
                self._buffered += len(rows)
            full = self._buffered >= self.batch_rows
        if full:
            self._wake.set()

    def _count_drop(self, rows: int) -> None:
        """Count dropped rows (under the lock) and say so, at most once a minute."""
        self.dropped_rows += rows
        self._dropped_since_warning += rows
        now = time.monotonic()
        if now - self._last_warning >= DROP_WARNING_SECONDS:
            log.warning("prediction log of %s full (%d rows buffered): dropped %d rows since the last warning, "
                        "%d in all", self.model, self.max_buffered_rows, self._dropped_since_warning,
                        self.dropped_rows)
            self._dropped_since_warning, self._last_warning = 0, now

    def start(self) -> PredictionLogWriter:
        """Start the daemon thread that flushes every ``flush_seconds`` or whenever ``batch_rows`` are buffered."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"prediction-log-{self.model}", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        lower_priority()
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush(duty=BACKGROUND_DUTY)
            except Exception as exc:  # the thread must outlive anything a flush meets
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("prediction log flush failed")

    def close(self) -> None:
        """Stop the thread and write everything still buffered."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.flush()

    def flush(self, duty: float = 1.0) -> int:
        """Move spilled files to the lake, then write what is buffered now; return the rows taken from the buffer.

        ``duty`` below 1 spreads the conversion over time (``build_frame``), unless a quarter of the buffer's
        bound is waiting: then it goes at full speed, so as not to fall behind.
        """
        with self._flush_lock:
            lake_ok = self._move_spilled()
            with self._lock:
                pending, self._pending = self._pending, []
                taken, self._buffered = self._buffered, 0
                self._in_flight = taken
            try:
                if pending:
                    frame = build_frame(self.model, pending, self.entity_key,
                                        1.0 if taken > self.max_buffered_rows // 4 else duty)
                    days = frame.get_column("predicted_at").dt.date()
                    for day in days.unique(maintain_order=True):
                        self._write(day, frame.filter(days == day), lake_ok)
            except Exception as exc:  # rows that cannot even be framed (e.g. a score that is no number): counted
                with self._lock:
                    self.dropped_rows += taken
                self.last_error = f"{taken} rows could not be logged: {type(exc).__name__}: {str(exc)[:300]}"
                log.error("prediction log of %s: %s", self.model, self.last_error)
            finally:
                with self._lock:
                    self._in_flight = 0
            return taken

    def _write(self, day: dt.date, part: pl.DataFrame, lake_ok: bool) -> None:
        """Write one day's rows to the lake; when that fails (or already failed this flush), to the spill folder."""
        name = f"part-{dt.datetime.now(dt.UTC):%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
        if lake_ok:
            try:
                write_parquet(part, join_uri(predictions_uri(self.lake_uri, self.model, day), name))
                self.written_rows, self.files_written = self.written_rows + part.height, self.files_written + 1
                return
            except Exception as exc:
                self._lake_failed(exc)
        try:
            path = self.spill_dir / day.isoformat() / name
            path.parent.mkdir(parents=True, exist_ok=True)
            part.write_parquet(path.with_suffix(".tmp"))
            path.with_suffix(".tmp").replace(path)
            self.spilled_rows += part.height
        except Exception as exc:  # neither the lake nor the local disk: counted and said, never silent
            with self._lock:
                self.dropped_rows += part.height
            self.last_error = f"spill to {self.spill_dir} failed: {type(exc).__name__}: {exc}"
            log.error("prediction log of %s lost %d rows: %s", self.model, part.height, self.last_error)

    def _lake_failed(self, exc: Exception) -> None:
        self.last_error = f"lake write failed: {type(exc).__name__}: {str(exc)[:300]}"
        log.warning("prediction log of %s: %s (rows spill to %s)", self.model, self.last_error, self.spill_dir)

    def _spilled_files(self) -> list[Path]:
        return sorted(self.spill_dir.glob("*/part-*.parquet")) if self.spill_dir.is_dir() else []

    def _move_spilled(self) -> bool:
        """Upload spilled files (oldest first), deleting each once it is in the lake; False when the lake fails."""
        for path in self._spilled_files():
            try:
                frame = pl.read_parquet(path)
            except Exception as exc:  # a damaged spill file: set aside for a human, never retried forever
                path.rename(path.with_suffix(".unreadable"))
                self.last_error = f"spilled file {path} unreadable, set aside: {type(exc).__name__}: {exc}"
                log.error("prediction log of %s: %s", self.model, self.last_error)
                continue
            try:
                day = dt.date.fromisoformat(path.parent.name)
                write_parquet(frame, join_uri(predictions_uri(self.lake_uri, self.model, day), path.name))
            except Exception as exc:
                self._lake_failed(exc)
                return False
            path.unlink()
            self.spilled_rows -= frame.height
            self.written_rows, self.files_written = self.written_rows + frame.height, self.files_written + 1
        return True

    def stats(self) -> dict[str, Any]:
        """Counters: rows written to the lake, buffered, spilled (on local disk, waiting), dropped; files; error."""
        return {"written_rows": self.written_rows, "buffered_rows": self._buffered + self._in_flight,
                "spilled_rows": self.spilled_rows, "dropped_rows": self.dropped_rows,
                "files_written": self.files_written, "last_error": self.last_error}


def lower_priority() -> None:
    """Run the calling thread at the lowest CPU priority (Linux: per thread), so requests come first.

    Polars' worker threads, started by the first flush when the server has not used polars before, inherit it.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)


def _rows_of(path: Path) -> int:
    try:
        return count_rows(path.as_uri())
    except Exception:  # unreadable: the next flush sets it aside and says so
        return 0


def log_batch(writer: PredictionLogWriter, version: str, frame: pl.DataFrame, scores: Sequence[float],
              request_id: str | None = None, at: dt.datetime | None = None) -> str:
    """Log a batch scored outside the server through the same writer; return its request id.

    Rows go in chunks of ``batch_rows``; when the buffer has no room the writer is flushed first (a batch job
    may wait, a request may not), so a batch is never dropped for size.
    """
    if frame.height != len(scores):
        raise ValueError(f"{frame.height} rows but {len(scores)} scores: one score per row is needed")
    request_id = request_id or uuid.uuid4().hex
    rows, scores = frame.to_dicts(), list(scores)
    for start in range(0, len(rows), writer.batch_rows):
        chunk = rows[start:start + writer.batch_rows]
        if writer.stats()["buffered_rows"] + len(chunk) > writer.max_buffered_rows:
            writer.flush()
        writer.log(request_id, version, chunk, scores[start:start + writer.batch_rows], at=at)
    return request_id
