"""The prediction log's rows as polars frames: built from queued requests (for the writer) and read back by window.

Where it lives: ``<lake>/predictions/<model>/<YYYY-MM-DD>/``; its columns: ``METADATA_SCHEMA`` then the features as
received (``prediction_log`` has the writer).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import numpy as np
import polars as pl

from ml_pipeline.data.lake import join_uri, list_parquet_files, read_parquet, to_uri

METADATA_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.String(), "model": pl.String(), "model_version": pl.String(),
    "predicted_at": pl.Datetime("us", "UTC"), "score": pl.Float64(), "entity_id": pl.String()}
EPOCH, MICROSECOND = dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.timedelta(microseconds=1)
CHUNK_ROWS = 1000  # rows converted at a time; the flush thread pauses between chunks (see build_frame)
MAX_PAUSE_SECONDS = 0.05


def predictions_uri(lake_uri: str, model: str, day: dt.date | None = None) -> str:
    """Where a model's prediction log lives: ``<lake>/predictions/<model>``, or one day's folder under it."""
    base = join_uri(to_uri(lake_uri), "predictions", model)
    return join_uri(base, day.isoformat()) if day else base


def build_frame(model: str, batches: list[tuple], entity_key: str | None, duty: float = 1.0) -> pl.DataFrame:
    """The logged rows of queued ``(request_id, version, time, rows, scores, features)`` batches, in order.

    Built in chunks of about ``CHUNK_ROWS`` rows of one feature set. Converting Python rows holds the GIL, so
    with ``duty`` below 1 each chunk is followed by a pause that keeps the conversion to that share of the
    time: a flush costs many requests a little instead of one request a lot (the p95 of ``/predict``). Chunks
    of different feature sets are concatenated diagonally (a column a version lacked is null).
    """
    frames, start, rows = [], 0, 0
    for i, batch in enumerate(batches):
        rows += len(batch[3])
        last = i + 1 == len(batches)
        if last or rows >= CHUNK_ROWS or batches[i + 1][5] is not batch[5]:
            began = time.perf_counter()
            frames.append(_frame_of(model, batches[start:i + 1], entity_key))
            start, rows = i + 1, 0
            time.sleep(min((time.perf_counter() - began) * (1 / duty - 1), MAX_PAUSE_SECONDS))
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def _frame_of(model: str, batches: list[tuple], entity_key: str | None) -> pl.DataFrame:
    """One frame of batches that share their features: per-batch metadata repeated per row by polars, not Python."""
    rows = [row for batch in batches for row in batch[3]]
    index = pl.Series(np.repeat(np.arange(len(batches), dtype=np.uint32), [len(b[3]) for b in batches]))
    features = batches[0][5]
    schema = {name: pl.String if kind == "string" else pl.Float64 for name, kind in features.items()}
    return pl.DataFrame([
        pl.Series("request_id", [b[0] for b in batches], dtype=pl.String).gather(index),
        pl.Series("model", [model], dtype=pl.String).gather(np.zeros(len(rows), dtype=np.uint32)),
        pl.Series("model_version", [str(b[1]) for b in batches], dtype=pl.String).gather(index),
        pl.Series("predicted_at", [(b[2] - EPOCH) // MICROSECOND for b in batches], dtype=pl.Int64).gather(
            index).cast(pl.Datetime("us", "UTC")),
        pl.Series("score", np.concatenate([np.asarray(b[4], dtype=np.float64) for b in batches])),
        *_entity_and_features(rows, schema, entity_key)])


def _entity_and_features(rows: list[dict[str, Any]], schema: dict[str, Any], entity_key: str | None) -> list[pl.Series]:
    """``entity_id`` and the features, read from the rows by polars (fast); value by value when that fails."""
    key = entity_key if entity_key and entity_key not in schema else None
    try:
        frame = pl.from_dicts(rows, schema={**schema, **({key: pl.String} if key else {})}, strict=False)
    except Exception:  # a value polars will not convert: the slow path below converts or nulls each
        frame = pl.DataFrame([pl.Series(name, [_text(r.get(name)) for r in rows], dtype=pl.String)
                              if kind == pl.String else pl.Series(name, [r.get(name) for r in rows], dtype=pl.Float64,
                                                                  strict=False) for name, kind in schema.items()])
        key = None
    entity = (frame.get_column(key) if key else pl.Series([_text(r.get(entity_key)) for r in rows], dtype=pl.String)
              if entity_key else pl.repeat(None, len(rows), dtype=pl.String, eager=True))
    return [entity.alias("entity_id"), *(frame.get_column(name) for name in schema)]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def empty_log() -> pl.DataFrame:
    """A prediction log without rows: the metadata columns only."""
    return pl.DataFrame(schema=METADATA_SCHEMA)


def read_predictions(lake_uri: str, model: str, start: dt.datetime, end: dt.datetime) -> pl.DataFrame:
    """Logged rows with ``start <= predicted_at < end`` (naive times are UTC), oldest first.

    Only the day folders the window overlaps are read; files of different feature sets are aligned by name.
    """
    start, end = (t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (start, end))
    if end <= start:
        return empty_log()
    first, last = start.astimezone(dt.UTC).date(), (end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    frames = [read_parquet(uri) for day in days for uri in list_parquet_files(predictions_uri(lake_uri, model, day))]
    if not frames:
        return empty_log()
    frame = pl.concat(frames, how="diagonal_relaxed")
    return frame.filter(pl.col("predicted_at").is_between(start, end, closed="left")).sort("predicted_at",
                                                                                          maintain_order=True)
