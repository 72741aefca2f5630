"""Retry only what may heal: Airflow 3.3's ``ExceptionRetryPolicy`` on top of the core's classification.

Every pipeline task runs its step through ``ml_pipeline_airflow.runtime.run_step``, which re-raises transient
failures (network, timeouts, HTTP 429/5xx, a partition not landed yet — ``ml_pipeline.failures.classification``)
as ``ml_pipeline.errors.TransientError``. This policy retries those (subclasses included), with the task's
exponential backoff, and fails everything else at once. A ``PermanentError`` (bad data, bad config, a failed
gate) never reaches it: it raises ``AirflowFailException``.
"""

from __future__ import annotations

from airflow.sdk import ExceptionRetryPolicy, RetryAction, RetryRule

TRANSIENT_ONLY = ExceptionRetryPolicy(
    rules=[RetryRule(
        exception=["ml_pipeline.errors.TransientError", "builtins.ConnectionError",
                   "builtins.TimeoutError"],
        action=RetryAction.RETRY,
        reason="transient failure (network, timeout, throttling or a server error): retrying with backoff")],
    default=RetryAction.FAIL,
)
