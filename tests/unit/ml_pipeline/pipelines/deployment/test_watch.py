"""The watch's core step: a window it cannot read or score is no verdict; the history keeps that it was not judged."""

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


def test_the_history_keeps_a_watch_that_judged_nothing_and_the_champion_now(ctx, evaluation, registry, history):
    deployment.record_unjudged(ctx, target(history, None), evaluation, "cannot read: v7 stays champion")
    [event] = history.events(ctx.config.model_name)
    assert (event.action, event.from_version, event.to_version) == ("watch_unjudged", VERSION, VERSION)
    assert event.reason == "cannot read: v7 stays champion" and event.run_id == ctx.run_id
    assert deployment.champion_now(ctx) == "6"
    registry.remove_champion()
    assert deployment.champion_now(ctx) is None
