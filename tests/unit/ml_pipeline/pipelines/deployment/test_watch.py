"""The watch's core step: a window it cannot read or score is no verdict; the history keeps that it was not judged."""

import datetime as dt

import polars as pl
import pytest

from ml_pipeline.pipelines import deployment
from tests.unit.ml_pipeline.pipelines.deployment.conftest import VERSION, target


def test_a_window_that_cannot_be_read_is_no_verdict(ctx, evaluation, registry, tmp_path):
    day = tmp_path / "transactions" / "2026-11-21"  # ctx's lake is tmp_path
    day.parent.mkdir(parents=True, exist_ok=True)
    day.symlink_to(day)  # listing it fails whoever asks, as S3 does for revoked keys
    with pytest.raises(deployment.WatchUnjudgedError, match="cannot read the labelled data of its window "
                                                            r"\(OSError: \[Errno 40\] Too many levels"):
        deployment.live_performance(ctx, evaluation, ["2026-11-21"])
    assert not issubclass(deployment.WatchUnjudgedError, deployment.DeploymentError)  # roll_back never reads it


def test_a_window_without_rows_or_of_one_class_or_with_a_corrupt_file_is_no_verdict(ctx, evaluation, registry,
                                                                                    tmp_path):
    """Scoring nothing raises in the model (it rolled back as "a step failed"); one class has no AUC; a corrupt
    file says nothing about the model either."""
    from ml_pipeline.data.generator import generate_day, write_day

    day = dt.date(2026, 11, 21)
    frame = generate_day(day, 200, seed=3)
    write_day(generate_day(day - dt.timedelta(days=1), 50, seed=3), ctx.dataset_uri, day)  # no row of the day
    with pytest.raises(deployment.WatchUnjudgedError, match="0 labelled rows, 0 class") as empty:
        deployment.live_performance(ctx, evaluation, [day.isoformat()])
    assert "window_days" in empty.value.fix and f"`ml-pipeline rollback {ctx.config.model_name}`" in empty.value.fix
    write_day(frame.with_columns(pl.lit(0).cast(frame["is_fraud"].dtype).alias("is_fraud")), ctx.dataset_uri, day)
    with pytest.raises(deployment.WatchUnjudgedError, match=r"labelled rows, 1 class\(es\) of is_fraud"):
        deployment.live_performance(ctx, evaluation, [day.isoformat()])
    folder = tmp_path / "transactions" / day.isoformat()
    for part in folder.glob("*.parquet"):
        part.write_bytes(b"not parquet")
    with pytest.raises(deployment.WatchUnjudgedError, match="cannot read the labelled data") as corrupt:
        deployment.live_performance(ctx, evaluation, [day.isoformat()])
    assert "Fix the lake's access or the window's files" in corrupt.value.fix


def test_the_history_keeps_a_watch_that_judged_nothing_and_the_champion_now(ctx, evaluation, registry, history):
    deployment.record_unjudged(ctx, target(history, None), evaluation, "cannot read: v7 stays champion")
    [event] = history.events(ctx.config.model_name)
    assert (event.action, event.from_version, event.to_version) == ("watch_unjudged", VERSION, VERSION)
    assert event.reason == "cannot read: v7 stays champion" and event.run_id == ctx.run_id
    assert deployment.champion_now(ctx) == "6"
    registry.remove_champion()
    assert deployment.champion_now(ctx) is None
