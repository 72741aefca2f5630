"""Time-based train/holdout split: the holdout is always the most recent data."""

from __future__ import annotations

import polars as pl


def split_by_time(frame: pl.DataFrame, holdout_fraction: float,
                  time_column: str = "event_time") -> tuple[pl.DataFrame, pl.DataFrame]:
    """Split into (train, holdout) so that every holdout row is later than every train row."""
    if not 0.0 < holdout_fraction < 1.0:
        raise ValueError(f"holdout_fraction must be in (0, 1), got {holdout_fraction}")
    ordered = frame.sort(time_column, maintain_order=True)
    cut = int(round(ordered.height * (1.0 - holdout_fraction)))
    if cut == 0 or cut == ordered.height:
        raise ValueError(f"{ordered.height} rows are too few for a {holdout_fraction:.0%} holdout")
    return ordered.head(cut), ordered.tail(ordered.height - cut)
