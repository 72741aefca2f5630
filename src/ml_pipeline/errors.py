"""The pipeline's error model: every failure we raise on purpose is permanent or transient.

Callers branch on these types, never on class names. ``PermanentError``: retrying cannot help (bad data, a bad
config, a model that cannot load, a failed gate); the task fails at once and alerts. ``TransientError``: a later
try may succeed (the network, a timeout, an HTTP 429/5xx, a service that is down, a partition that has not
landed yet); the task is retried with backoff. Failures of client libraries we do not own are classified by
``ml_pipeline.failures.classification``.

Each module keeps its own error class, placed under one of these and under the builtin it always subclassed
(``ConfigError`` is a ``PermanentError`` and still a ``ValueError``), so existing ``except`` clauses hold.
This module imports nothing: Airflow's retry policy imports it while parsing every DAG file.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class PermanentError(PipelineError):
    """A failure that retrying cannot fix: bad data, a bad config, a model that cannot load, a failed gate."""


class TransientError(PipelineError):
    """A failure that may heal when retried: network, timeout, HTTP 429/5xx, a service down, data not landed yet.

    When it wraps another exception, that one is its ``__cause__``.
    """
