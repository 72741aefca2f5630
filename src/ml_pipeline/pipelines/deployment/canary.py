"""The canary: the challenger served by a staging instance, sent real holdout rows, judged on what it answers.

The step starts no process itself: it is handed a ``StagingLauncher`` (the Airflow task passes one that runs a
model server on a free port; a test may pass any other that serves the model over HTTP).
"""

from __future__ import annotations

import logging
import statistics
import subprocess
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ml_pipeline.config import CanaryConfig
from ml_pipeline.deployment import history as hist
from ml_pipeline.deployment.client import EXIT_REGISTRY_UNAVAILABLE, ServingClient, ServingError
from ml_pipeline.errors import TransientError
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.deployment.changes import deployment_event
from ml_pipeline.pipelines.deployment.errors import DeploymentError
from ml_pipeline.pipelines.deployment.holdout import smoke_sample
from ml_pipeline.pipelines.deployment.results import CanaryResult, Evaluation
from ml_pipeline.pipelines.deployment.target import DeploymentTarget

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StagingServer:
    """A running staging model server: its URL, and what explains a failure to start (its process, its log)."""

    url: str
    process: subprocess.Popen | None = None  # polled while waiting: a server that exited fails the wait at once
    log_path: Path | None = None


class StagingLauncher(Protocol):
    """Starts a model server pinned to one version for a ``with`` block, and stops it when the block ends."""

    def __call__(self, model: str, version: str, tracking_uri: str) -> AbstractContextManager[StagingServer]:
        """A context manager that yields the running server."""
        ...


def run_canary(ctx: RunContext, evaluation: Evaluation, launch: StagingLauncher) -> CanaryResult:
    """Serve the challenger in a staging instance, send it real holdout rows, and check what it answers.

    The checks: error rate, latency p95, and scores equal to the offline ones of the same rows.

    Args:
        ctx: The deployment run.
        evaluation: The gates' evaluation (challenger version, sample rows with offline scores).
        launch: Starts the staging model server and stops it after the canary.

    Returns:
        The canary's figures, or only ``skipped`` when ``deployment.canary.enabled`` is false.

    Raises:
        DeploymentError: The instance never became healthy, or a check failed (the message has the numbers).
        TransientError: The instance could not reach the registry to load the challenger, or was still loading it
            at ``startup_timeout_seconds``: nothing is decided.
    """
    canary, version = ctx.config.deployment.canary, evaluation["challenger"]["version"]
    if not canary.enabled:
        return {"skipped": "deployment.canary.enabled is false"}
    sample = smoke_sample(ctx, evaluation)
    with launch(ctx.config.model_name, version, ctx.tracking_uri) as server:
        client = ServingClient(server.url)
        try:
            client.wait_healthy(canary.startup_timeout_seconds, server.process, version)
        except ServingError as exc:
            code = server.process.poll() if server.process is not None else "no process"
            if code == EXIT_REGISTRY_UNAVAILABLE:
                raise TransientError(f"canary: staging instance of v{version} could not reach the registry to load "
                                     f"the model; log {server.log_path}: {_tail(server.log_path)}") from exc
            if code is None:  # alive without a model: still loading, inside MLflow's own retries of a slow registry
                raise TransientError(f"canary: staging instance of v{version} was still loading the model after "
                                     f"{canary.startup_timeout_seconds:g} s (the registry or its artifact store slow "
                                     f"or unreachable; deployment.canary.startup_timeout_seconds): {exc}; log "
                                     f"{server.log_path}: {_tail(server.log_path)}") from exc
            raise DeploymentError(f"canary: staging instance of v{version} never became healthy: {exc}; "
                                  f"log {server.log_path}: {_tail(server.log_path)}") from exc
        latencies, errors, worst = _send_requests(client, sample.rows, sample.expected(version) or [], canary)
    result: CanaryResult = {
        "version": version, "requests": canary.requests, "errors": len(errors),
        "error_rate": len(errors) / canary.requests, "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": _p95(latencies) * 1000, "max_score_diff": worst, "rows_per_request": canary.rows_per_request}
    problems = []
    if result["error_rate"] > canary.max_error_rate:
        problems.append(f"error rate {result['error_rate']:.2%} > {canary.max_error_rate:.2%} ({errors[:3]})")
    if result["p95_ms"] > canary.max_p95_ms:
        problems.append(f"latency p95 {result['p95_ms']:.1f} ms > {canary.max_p95_ms:.1f} ms")
    if worst > canary.score_tolerance:
        problems.append(f"served scores differ from offline by up to {worst:.2e} > {canary.score_tolerance:.0e}")
    log.info("canary of v%s: %s", version, result)
    if problems:
        raise DeploymentError(f"canary of {ctx.config.model_name} v{version} failed: {'; '.join(problems)}")
    return result


def _send_requests(client: ServingClient, rows: list[dict], expected: list[float],
                   canary: CanaryConfig) -> tuple[list[float], list[str], float]:
    """Send ``canary.requests`` batches of ``rows``: (latencies in s, errors, worst |served − ``expected``| score)."""
    size = canary.rows_per_request
    latencies, errors, worst = [], [], 0.0
    for i in range(canary.requests):
        start = (i * size) % len(rows)
        batch, want = rows[start:start + size], expected[start:start + size]
        began = time.perf_counter()
        try:
            answer = client.predict(batch)
        except ServingError as exc:
            errors.append(str(exc)[:300])
            continue
        finally:
            latencies.append(time.perf_counter() - began)
        worst = max([worst, *(abs(a - b) for a, b in zip(answer["scores"], want, strict=True))])
    return latencies, errors, worst


def record_canary_failure(ctx: RunContext, target: DeploymentTarget, evaluation: Evaluation, reason: str) -> None:
    """Keep a challenger refused by its canary in the history."""
    target.history().record(deployment_event(ctx, hist.CANARY_FAILED, (evaluation["champion"] or {}).get("version"),
                                             evaluation["challenger"]["version"], reason))


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _tail(path: Path | None, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:] if path else "(no log)"
    except OSError:
        return "(no log)"
