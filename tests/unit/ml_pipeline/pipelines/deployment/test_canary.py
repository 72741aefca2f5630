"""The canary on a real HTTP server handed in by the launcher: it passes a faithful server and names what failed."""

import pytest

from ml_pipeline.pipelines.deployment import DeploymentError, run_canary
from tests.unit.ml_pipeline.pipelines.deployment.conftest import VERSION, offline_score, with_deployment
from tests.unit.ml_pipeline.pipelines.deployment.stub_server import StubModelServer


def test_a_server_that_scores_as_offline_passes_with_its_figures(ctx, evaluation):
    with StubModelServer(VERSION, offline_score) as server:
        result = run_canary(ctx, evaluation, server.launcher())
    assert server.launched == [(ctx.config.model_name, VERSION, ctx.tracking_uri)]
    assert server.requests.count("POST /predict") == 4
    assert result["version"] == VERSION and result["requests"] == 4 and result["errors"] == 0
    assert result["max_score_diff"] <= 1e-12 and result["rows_per_request"] == 5 and result["p95_ms"] > 0


def test_served_scores_that_differ_from_offline_fail_the_canary_with_the_numbers(ctx, evaluation):
    with StubModelServer(VERSION, lambda row: offline_score(row) + 0.01) as server, \
            pytest.raises(DeploymentError, match=r"v7 failed: served scores differ from offline by up to 1\.00e-02"):
        run_canary(ctx, evaluation, server.launcher())


def test_a_staging_instance_that_never_gets_healthy_fails_with_its_log(ctx, evaluation):
    with StubModelServer(VERSION, offline_score, healthy=False) as server, \
            pytest.raises(DeploymentError, match=r"staging instance of v7 never became healthy: .*503.*\(no log\)"):
        run_canary(ctx, evaluation, server.launcher())
    assert "POST /predict" not in server.requests


def test_a_disabled_canary_starts_nothing(ctx, evaluation):
    def no_launch(*args):
        raise AssertionError("the canary is off: nothing may be started")

    assert run_canary(with_deployment(ctx, canary={"enabled": False}), evaluation, no_launch) == {
        "skipped": "deployment.canary.enabled is false"}


def pinned_server(registry_url: str, log_path, request_timeout_s: int):
    """A launcher of the real model server, pinned to the version asked, against ``registry_url``."""
    import contextlib
    import os
    import subprocess

    from ml_pipeline.deployment.client import free_port, serving_argv
    from ml_pipeline.pipelines.deployment import StagingServer

    port = free_port()
    env = {**os.environ, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": str(request_timeout_s)}

    @contextlib.contextmanager
    def launch(model, version, tracking_uri):
        with open(log_path, "wb") as log:
            process = subprocess.Popen(serving_argv(model, port, registry_url, version=version), stdout=log,
                                       stderr=subprocess.STDOUT, env=env)
        try:
            yield StagingServer(f"http://127.0.0.1:{port}", process, log_path)
        finally:
            process.kill()
            process.wait()

    return launch


def test_a_staging_server_that_cannot_reach_the_registry_is_retried_not_a_rejected_challenger(ctx, evaluation,
                                                                                                tmp_path):
    """The real model server, pinned to a version, against a registry nobody answers: exit 75, then TransientError."""
    from ml_pipeline.deployment.client import free_port
    from ml_pipeline.errors import TransientError

    log_path = tmp_path / "staging.log"
    launch = pinned_server(f"http://127.0.0.1:{free_port()}", log_path, 5)  # nobody listens
    with pytest.raises(TransientError, match="could not reach the registry"):
        run_canary(with_deployment(ctx, canary={"startup_timeout_seconds": 120}), evaluation, launch)
    assert "first load failed" in log_path.read_text()  # it did try, and said why in its log


def test_a_staging_server_still_loading_at_its_timeout_is_retried_not_a_rejected_challenger(ctx, evaluation,
                                                                                           tmp_path):
    """The real model server, pinned to a version, against a registry that accepts the connection and never answers:
    alive and loading at the canary's timeout (inside MLflow's own retries), so nothing is decided."""
    import socket

    from ml_pipeline.errors import TransientError

    with socket.socket() as silent:  # listens, accepts, answers nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        launch = pinned_server(f"http://127.0.0.1:{silent.getsockname()[1]}", tmp_path / "staging.log", 60)
        with pytest.raises(TransientError, match=r"v7 was still loading the model after 15 s .*503"):
            run_canary(with_deployment(ctx, canary={"startup_timeout_seconds": 15}), evaluation, launch)
