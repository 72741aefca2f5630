"""The deployment steps' errors, placed in the pipeline's error model (``ml_pipeline.errors``)."""

from __future__ import annotations

from ml_pipeline.errors import PermanentError


class DeploymentError(PermanentError, RuntimeError):
    """A deployment step found the new version unfit (canary, verification, live metric): roll back / refuse."""


class RegistryStateError(PermanentError, ValueError):
    """The registry is not in a state the step can act on.

    No version to deploy, no ``previous_champion`` to go back to, no such version, or the version asked for is
    already the champion: a person must change the request (or train a model), retrying cannot help.
    """
