"""Rollback over one registry: the champion of before comes back, ``previous_champion`` never names the bad one."""

import datetime as dt

import pytest

from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.deployment.history import DeploymentEvent
from ml_pipeline.pipelines.deployment import (
    DeploymentError,
    RegistryStateError,
    moved_on,
    restore_champion,
    roll_back,
    rollback_to,
)
from tests.unit.ml_pipeline.pipelines.deployment.conftest import VERSION, FakeRegistry, offline_score, target
from tests.unit.ml_pipeline.pipelines.deployment.stub_server import StubModelServer

MODEL = "fraud_detection"


def promoted(history, before, to):
    history.record(DeploymentEvent(MODEL, "promoted", before, to, "test"))


def test_the_champion_before_comes_back_with_the_one_before_it(history):
    registry = FakeRegistry(MODEL, champion="4", previous="3")
    promoted(history, "2", "3")
    promoted(history, "3", "4")
    restore_champion(registry, history, "3", left="4")
    assert registry.aliases == {"champion": "3", "previous_champion": "2"}


def test_previous_champion_never_names_the_version_rolled_back(history):
    registry = FakeRegistry(MODEL, champion="4", previous="3")
    promoted(history, "4", "3")  # v3 once replaced v4, then v4 came back over it
    promoted(history, "3", "4")
    restore_champion(registry, history, "3", left="4")
    assert registry.aliases == {"champion": "3"}


def test_a_failed_first_champion_leaves_no_champion(history):
    registry = FakeRegistry(MODEL, champion="1")
    restore_champion(registry, history, None, left="1")
    assert registry.champion() is None


def test_an_automatic_rollback_is_tagged_recorded_reloaded_and_verified(ctx, evaluation, registry, history):
    registry.move_champion(VERSION)  # the promotion that failed: champion v7, previous v6
    with StubModelServer(VERSION, offline_score, reload_to="6") as server:
        result = roll_back(ctx, target(history, server.url), evaluation, "verification failed")
    assert result["from"] == VERSION and result["to"] == "6" and result["verified"]["version"] == "6"
    assert registry.aliases["champion"] == "6" and registry.aliases.get("previous_champion") != VERSION
    assert registry.tags[VERSION]["deployment.last_action"] == "rolled_back"
    [event] = history.events(MODEL)
    assert (event.action, event.from_version, event.to_version, event.reason) == (
        "rolled_back", VERSION, "6", "verification failed")


def test_a_rollback_that_fails_is_recorded_and_raised(ctx, evaluation, registry, history):
    registry.move_champion(VERSION)
    with StubModelServer(VERSION, offline_score, reload_status=409) as server, pytest.raises(DeploymentError):
        roll_back(ctx, target(history, server.url), evaluation, "verification failed")
    assert [e.action for e in history.events(MODEL)] == ["rolled_back", "rollback_failed"]


def test_a_manual_rollback_is_verified_on_the_newest_landed_day(ctx, registry, history):
    day = dt.date(2026, 11, 20)
    write_day(generate_day(day, 1_000), ctx.dataset_uri, day)
    with StubModelServer("6", offline_score, reload_to="5") as server:
        result = rollback_to(ctx, target(history, server.url), None, "manual rollback: bad reviews")
    assert (result["from"], result["to"], result["verified"]["smoke_rows"]) == ("6", "5", 20)
    assert registry.aliases["champion"] == "5"


@pytest.mark.parametrize(("to_version", "champion", "previous", "message"), [
    (None, "6", None, "has no 'previous_champion': name a version"),
    ("6", "6", "5", "v6 of fraud_detection is already the champion: nothing to roll back"),
    ("123", "6", "5", "has no version 123 to roll back to"),
])
def test_a_manual_rollback_the_registry_cannot_take_is_refused(ctx, registry, history, to_version, champion,
                                                                previous, message):
    registry.aliases = {k: v for k, v in {"champion": champion, "previous_champion": previous}.items() if v}
    with pytest.raises(RegistryStateError, match=message):
        rollback_to(ctx, target(history, None), to_version, "manual rollback")
    assert history.events(MODEL) == []


def test_a_rollback_that_production_cannot_take_now_is_retried_not_recorded_as_failed(ctx, evaluation, registry,
                                                                                       history):
    from ml_pipeline.errors import TransientError

    registry.move_champion(VERSION)
    with StubModelServer(VERSION, offline_score, reload_status=503) as server, pytest.raises(TransientError):
        roll_back(ctx, target(history, server.url), evaluation, "verification failed")
    assert "rollback_failed" not in [e.action for e in history.events(MODEL)]


def test_a_retried_rollback_still_moves_previous_champion_off_the_version_it_left(ctx, evaluation, registry,
                                                                                  history):
    registry.move_champion(VERSION)
    registry.move_champion("6")  # a first try moved champion back, then failed before fixing previous_champion
    assert registry.aliases["previous_champion"] == VERSION
    with StubModelServer("6", offline_score) as server:
        roll_back(ctx, target(history, server.url), evaluation, "verification failed")
    assert registry.aliases["champion"] == "6" and registry.aliases.get("previous_champion") != VERSION


def event(ctx, action, before, to, run_id):
    return DeploymentEvent(MODEL, action, before, to, "test", ctx.dag_id, run_id)


@pytest.mark.parametrize(("champion", "later", "moved"), [
    ("7", [], None),  # this run's promotion stands: roll it back
    ("6", [("rolled_back", "7", "6", "this")], None),  # this run's rollback half done: finish it
    ("8", [("promoted", "7", "8", "later")], "moved on since this deployment (now v8)"),
    # a rollback by hand since, to the version this run replaced or back to this run's own: not this run's to undo
    ("6", [("rolled_back", "7", "6", "manual__rollback")], "(rolled back v7 → v6 by run manual__rollback)"),
    ("7", [("promoted", "7", "8", "later"), ("rolled_back", "8", "7", "manual__rollback")],
     "(rolled back v8 → v7 by run manual__rollback)"),
    # this run's promotion replayed after another run's rollback: v7 again, with no second event of this run
    ("7", [("rolled_back", "7", "6", "this"), ("promoted", "6", "8", "later"), ("rolled_back", "8", "6", "later")],
     None),
])
def test_a_rollback_has_an_object_only_while_no_other_run_moved_the_champion(
        ctx, evaluation, registry, history, champion, later, moved):
    history.record(event(ctx, "promoted", "5", "6", "earlier"))
    history.record(event(ctx, "promoted", "6", "7", ctx.run_id))
    for action, before, to, run_id in later:
        history.record(event(ctx, action, before, to, ctx.run_id if run_id == "this" else run_id))
    registry.aliases["champion"] = champion
    answer = moved_on(ctx, target(history, None), evaluation)
    assert answer is None if moved is None else moved in answer


def test_a_promotion_that_stopped_before_its_record_is_rolled_back(ctx, evaluation, registry, history):
    history.record(event(ctx, "promoted", "5", "6", "earlier"))  # this run moved the alias, then failed
    registry.aliases["champion"] = VERSION
    assert moved_on(ctx, target(history, None), evaluation) is None
