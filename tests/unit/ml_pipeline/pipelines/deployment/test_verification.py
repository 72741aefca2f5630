"""Verification: the registry and production must agree on the version, and production must score as offline."""

import pytest

from ml_pipeline.pipelines.deployment import DeploymentError, verify
from tests.unit.ml_pipeline.pipelines.deployment.conftest import VERSION, offline_score, target
from tests.unit.ml_pipeline.pipelines.deployment.stub_server import StubModelServer


@pytest.fixture
def promoted(registry):
    registry.move_champion(VERSION)
    return registry


def test_production_serving_the_champion_as_offline_passes(ctx, evaluation, promoted, history):
    with StubModelServer(VERSION, offline_score) as server:
        assert verify(ctx, target(history, server.url), evaluation, VERSION) == {
            "version": VERSION, "endpoint": server.url, "smoke_rows": 12}


def test_a_registry_only_model_checks_the_alias_alone(ctx, evaluation, promoted, history):
    assert verify(ctx, target(history, None), evaluation, VERSION) == {"version": VERSION, "endpoint": None}
    with pytest.raises(DeploymentError, match=f"registry: champion is v{VERSION}, not v6"):
        verify(ctx, target(history, None), evaluation, "6")


@pytest.mark.parametrize(("served", "score", "message"), [
    ("6", offline_score, f"serves v6, not v{VERSION}"),
    (VERSION, lambda row: offline_score(row) + 1e-3, "scores differ from offline by 1.00e-03"),
])
def test_production_that_disagrees_fails_verification(ctx, evaluation, promoted, history, served, score, message):
    with StubModelServer(served, score) as server, pytest.raises(DeploymentError, match=message):
        verify(ctx, target(history, server.url), evaluation, VERSION)


def test_production_that_cannot_be_reached_or_answers_503_is_retried_not_rolled_back(ctx, evaluation, promoted,
                                                                                     history):
    from ml_pipeline.deployment.client import free_port
    from ml_pipeline.errors import TransientError

    nobody = f"http://127.0.0.1:{free_port()}"  # connection refused: a restart, a network blip
    with pytest.raises(TransientError, match="cannot be verified now"):
        verify(ctx, target(history, nobody), evaluation, VERSION)
    with StubModelServer(VERSION, offline_score, healthy=False) as server, pytest.raises(TransientError):
        verify(ctx, target(history, server.url), evaluation, VERSION)  # /health answers 503
