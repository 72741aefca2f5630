"""Typed model configuration: one YAML file per model, unknown keys rejected.

Errors name the file, the field and what was expected, so a typo in one model's
config never turns into a stack trace deep inside a task.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(ValueError):
    """A model config file is malformed; the message names the file and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where the training data comes from and which columns the model uses."""

    source: str = Field(description="Dataset folder under the lake root, or a full URI.")
    lookback_days: int = Field(default=7, ge=1, le=366)
    target_column: str
    features: list[str] = Field(min_length=1)
    feature_builder: Literal["fraud"] = "fraud"


class TrainingConfig(_Strict):
    """How the model is trained."""

    hyperparameters: dict[str, float | int | str | bool] = Field(default_factory=dict)
    validation_split: float = Field(default=0.2, gt=0.0, lt=0.9)
    seed: int = 42


class DeploymentConfig(_Strict):
    """Gates a trained model must pass before promotion."""

    min_auc_threshold: float = Field(default=0.85, ge=0.0, le=1.0)
    endpoint_name: str | None = None


class ModelConfig(_Strict):
    """One model's pipeline, as written in ``config/model_configs/<model>.yaml``."""

    model_name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    model_type: Literal["xgboost"] = "xgboost"
    description: str = ""
    owner: str = "ml-platform"
    schedule: str | None = "0 2 * * *"
    retries: int = Field(default=3, ge=0, le=10)
    data: DataConfig
    training: TrainingConfig = TrainingConfig()
    deployment: DeploymentConfig = DeploymentConfig()

    @property
    def training_dag_id(self) -> str:
        """The Airflow dag_id of this model's training pipeline."""
        return f"ml_training_{self.model_name}"

    def content_hash(self) -> str:
        """Stable hash of the effective config (defaults included), for lineage."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_model_config(path: str | Path) -> ModelConfig:
    """Read and validate one model config file; raise ``ConfigError`` naming file and field."""
    path = Path(path)
    try:
        raw: Any = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, got {type(raw).__name__}")
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe(path, exc)) from None


def _describe(path: Path, exc: ValidationError) -> str:
    problems = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "(top level)"
        got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
        problems.append(f"field '{field}': {err['msg']}{got}")
    return f"{path}: invalid model config: " + "; ".join(problems)
