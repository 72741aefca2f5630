"""Promotion over one registry: the alias moves, the new champion is tagged, recorded and reloaded in production."""

import pytest

from ml_pipeline.errors import TransientError
from ml_pipeline.pipelines.deployment import DeploymentError, promote
from tests.unit.ml_pipeline.pipelines.deployment.conftest import VERSION, offline_score, target
from tests.unit.ml_pipeline.pipelines.deployment.stub_server import StubModelServer

CANARY = {"version": VERSION, "requests": 4, "errors": 0}


def test_the_challenger_becomes_champion_tagged_recorded_and_served(ctx, evaluation, registry, history):
    with StubModelServer("6", offline_score, reload_to=VERSION) as server:
        assert promote(ctx, target(history, server.url), evaluation, CANARY) == {"version": VERSION, "previous": "6"}
    assert registry.aliases == {"champion": VERSION, "previous_champion": "6"} and server.reloads == 1
    tags = registry.tags[VERSION]
    assert tags["deployment.last_action"] == "promoted" and "deployment.promoted_at" in tags
    assert tags["deployment.last_run"] == f"{ctx.dag_id}/{ctx.run_id}"
    [event] = history.events(ctx.config.model_name)
    assert (event.action, event.from_version, event.to_version) == ("promoted", "6", VERSION)
    assert event.reason == "beats champion auc 0.8000 on 2026-11-20" and event.details["canary"] == CANARY


def test_a_retry_moves_nothing_twice_and_records_once(ctx, evaluation, registry, history):
    for _ in range(2):
        promote(ctx, target(history, None), evaluation, CANARY)
    assert registry.aliases == {"champion": VERSION, "previous_champion": "6"}
    assert [e.action for e in history.events(ctx.config.model_name)] == ["promoted"]


@pytest.mark.parametrize(("status", "error", "message"), [
    (409, DeploymentError, f"did not take v{VERSION}"), (503, TransientError, "cannot reload now")])
def test_production_refusing_or_unable_to_reload_is_told_apart(ctx, evaluation, registry, history, status, error,
                                                               message):
    with StubModelServer("6", offline_score, reload_status=status) as server, pytest.raises(error, match=message):
        promote(ctx, target(history, server.url), evaluation, CANARY)
    assert registry.aliases["champion"] == VERSION  # moved and recorded: the rollback (or the retry) takes over
    assert [e.action for e in history.events(ctx.config.model_name)] == ["promoted"]
