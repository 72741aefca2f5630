"""``ModelRegistry``: one model's versions and aliases, through the one MLflow client of a deployment step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from ml_pipeline.pipelines.context import RunContext


def _adapter() -> ModuleType:
    """The MLflow adapter, imported on first use: MLflow costs seconds to import, and the DAG files import us."""
    from ml_pipeline.registry import mlflow_registry

    return mlflow_registry


@dataclass(frozen=True)
class ModelRegistry:
    """A model's registry entries as a deployment step sees them: aliases to read and move, versions to tag and score.

    A step builds one (``for_run``) and passes it on, so that all its calls go through one client. A read raises
    ``TransientError`` when MLflow is unreachable or failing: an outage is never read as "no champion".
    """

    client: MlflowClient
    tracking_uri: str
    name: str

    @classmethod
    def for_run(cls, ctx: RunContext) -> ModelRegistry:
        """The registry of the run's model on the run's tracking server."""
        from mlflow import MlflowClient

        return cls(MlflowClient(ctx.tracking_uri), ctx.tracking_uri, ctx.config.model_name)

    def champion(self) -> ModelVersion | None:
        """The version serving now (alias ``champion``), or None before the first promotion."""
        return _adapter().alias_version(self.client, self.name, _adapter().CHAMPION)

    def previous_champion(self) -> ModelVersion | None:
        """The version ``champion`` left last (alias ``previous_champion``), or None."""
        return _adapter().alias_version(self.client, self.name, _adapter().PREVIOUS_CHAMPION)

    def challenger(self, version: str | None = None) -> ModelVersion | None:
        """Version ``version``, or without one the version aliased ``challenger``; None when there is none."""
        if version:
            return self.version(version)
        return _adapter().alias_version(self.client, self.name, _adapter().CHALLENGER)

    def version(self, version: str) -> ModelVersion | None:
        """Version ``version``, or None when the model has no such version."""
        return _adapter().model_version(self.client, self.name, version)

    def move_champion(self, version: str) -> None:
        """Point ``champion`` at ``version``; the version it pointed at keeps ``previous_champion``."""
        _adapter().promote(self.client, self.name, version)

    def remove_champion(self) -> None:
        """Delete the ``champion`` alias: nothing is to be served."""
        self.client.delete_registered_model_alias(self.name, _adapter().CHAMPION)

    def set_previous_champion(self, version: str | None) -> None:
        """Point ``previous_champion`` at ``version``; None deletes it."""
        if version:
            self.client.set_registered_model_alias(self.name, _adapter().PREVIOUS_CHAMPION, version)
        else:
            self.client.delete_registered_model_alias(self.name, _adapter().PREVIOUS_CHAMPION)

    def tag(self, version: str, tags: Mapping[str, str]) -> None:
        """Set ``tags`` on ``version``."""
        for key, value in tags.items():
            self.client.set_model_version_tag(self.name, version, key, value)

    def log_metric(self, run_id: str, key: str, value: float) -> None:
        """Log ``key`` on the MLflow run ``run_id`` (a version's training run)."""
        self.client.log_metric(run_id, key, value)

    def scores(self, version: str, frame: pl.DataFrame, features: Sequence[str]) -> np.ndarray:
        """The positive-class probabilities version ``version`` gives the rows of ``frame``.

        Raises:
            DeploymentError: The loader refuses the version's model file (pickle, types its estimator does not
                trust): it can never be deployed.
            TransientError: MLflow is unreachable (or the exception a client library raised for it).
        """
        from ml_pipeline.deployment.loaded_model import refused_on_load
        from ml_pipeline.pipelines.deployment.errors import DeploymentError
        from ml_pipeline.training.trainer import to_model_input

        try:
            model = _adapter().load_model(self.tracking_uri, f"models:/{self.name}/{version}")
        except Exception as exc:
            if refused_on_load(exc):
                raise DeploymentError(f"v{version} of {self.name} is refused by the model loader: "
                                      f"{type(exc).__name__}: {str(exc)[:500]}") from exc
            raise
        return model.predict_proba(to_model_input(frame, features))[:, 1]
