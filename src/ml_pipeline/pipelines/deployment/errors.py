"""The deployment steps' errors, placed in the pipeline's error model (``ml_pipeline.errors``)."""

from __future__ import annotations

from ml_pipeline.errors import PermanentError


class DeploymentError(PermanentError, RuntimeError):
    """A deployment step found the new version unfit (canary, verification, live metric): roll back / refuse."""


class WatchUnjudgedError(PermanentError, RuntimeError):
    """The watch could not judge the champion: its data cannot be read, or it holds no rows or one class.

    No verdict, so no rollback: the champion stays; ``fix`` says what a person can do about it.
    """

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix


class RegistryStateError(PermanentError, ValueError):
    """The registry is not in a state the step can act on.

    No version to deploy, no ``previous_champion`` to go back to, no such version, or the version asked for is
    already the champion: a person must change the request (or train a model), retrying cannot help.
    """
