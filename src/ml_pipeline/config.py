"""Typed model configuration: one YAML file per model, unknown keys rejected.

Errors name the file, the field and what was expected, so a typo in one model's
config never turns into a stack trace deep inside a task. The sections (``data:``, ``alerts:``, …) are in
``config_sections``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from ml_pipeline.config_reading import describe_errors, read_yaml
from ml_pipeline.config_sections import (
    DAY_SECONDS,
    AlertsConfig,
    CanaryConfig,
    Cron,
    DataConfig,
    DeploymentConfig,
    FeatureStoreConfig,
    FeatureThresholds,
    LineageConfig,
    MonitoringConfig,
    RetrainCause,
    TrainingConfig,
    WatchConfig,
    _Strict,
)
from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators.registry import DEFAULT_MODEL_TYPE, ModelType

__all__ = ["AlertsConfig", "CanaryConfig", "ConfigError", "Cron", "DataConfig", "DeploymentConfig",
           "FeatureStoreConfig", "FeatureThresholds", "LineageConfig", "ModelConfig", "MonitoringConfig",
           "RetrainCause", "TrainingConfig", "WatchConfig", "config_dir", "config_files", "load_model_config",
           "load_model_configs", "misnamed_config_files", "starter_config"]


MODEL_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"  # names the config file and the DAGs: never a path
# the columns the prediction log writes beside a request's features (monitoring/prediction_frames.py)
PREDICTION_LOG_COLUMNS = ("request_id", "model", "model_version", "predicted_at", "score", "entity_id")


class ConfigError(PermanentError, ValueError):
    """A model config file is malformed; the message names the file and field."""


class ModelConfig(_Strict):
    """One model's pipeline, as written in ``config/model_configs/<model>.yaml``."""

    model_name: str = Field(pattern=MODEL_NAME_PATTERN, max_length=200,
                            description="names its DAGs (prefix + name ≤ Airflow's 250 characters)")
    model_type: ModelType = Field(default=DEFAULT_MODEL_TYPE, description="the estimator (estimators/registry.py)")
    description: str = ""
    enabled: bool = Field(default=True, description="false: its DAGs are paused and its endpoint is not served; "
                                                     "the running platform applies a change within seconds")
    owner: str = "ml-platform"
    schedule: Cron = Field(default="0 2 * * *", description="cron of the training DAG (UTC); null: manual")
    retries: int = Field(default=3, ge=0, le=10)
    retry_delay_seconds: float = Field(default=30, gt=0, le=DAY_SECONDS,
                                       description="first retry delay; doubles (retry_backoff)")
    retry_backoff: float = Field(default=2.0, ge=1.0, le=10.0, description="multiplier of the delay between retries")
    max_retry_delay_seconds: float = Field(default=600, gt=0, le=DAY_SECONDS)
    data: DataConfig
    training: TrainingConfig = TrainingConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    alerts: AlertsConfig = AlertsConfig()
    feature_store: FeatureStoreConfig = FeatureStoreConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    lineage: LineageConfig = LineageConfig()
    validation: dict[str, Any] | None = Field(
        default=None, description="This model's data validation rules, merged over the defaults (docs: "
                                  "DAG_REFERENCE.md#data-validation-rules); `ml-pipeline check-config` checks them.")

    @model_validator(mode="after")
    def _device_the_estimator_can_use(self) -> ModelConfig:
        from ml_pipeline.estimators.registry import get_estimator

        if self.training.device == "gpu" and not get_estimator(self.model_type).supports_gpu:
            raise ValueError(f"field 'training.device': gpu, but model_type {self.model_type} trains on the CPU "
                             "only; set training.device to auto or cpu")
        return self

    @model_validator(mode="after")
    def _monitored_features_exist(self) -> ModelConfig:
        unknown = sorted(set(self.monitoring.features) - set(self.data.features))
        if unknown:
            raise ValueError(f"field 'monitoring.features': {unknown} are not in data.features "
                             f"{self.data.features}; thresholds can be set only for the model's features")
        return self

    @model_validator(mode="after")
    def _features_fit_the_prediction_log(self) -> ModelConfig:
        taken = [name for name in self.data.features if name in PREDICTION_LOG_COLUMNS]
        if taken:
            raise ValueError(f"field 'data.features': {taken} named like the prediction log's own columns "
                             f"({', '.join(PREDICTION_LOG_COLUMNS)}): the model server could not log its requests; "
                             "rename that column in the data (or the feature view that makes it)")
        return self

    @model_validator(mode="after")
    def _deadline_covers_the_watch(self) -> ModelConfig:
        deadline, watch = self.alerts.deployment_deadline_minutes, self.deployment.watch
        if deadline is not None and watch.window_days and deadline < watch.timeout_hours * 60 + 60:
            raise ValueError(f"field 'alerts.deployment_deadline_minutes': {deadline:g} min, but a deployment's live "
                             f"watch may wait {watch.timeout_hours:g} h for its data "
                             "(deployment.watch.timeout_hours), so such deployments would miss their deadline; set "
                             f"it to at least {watch.timeout_hours * 60 + 60:g} (the watch + 1 h), or null")
        return self

    @property
    def uses_feature_store(self) -> bool:
        """Whether the model has derived features: they come from the feature store, computed by their own DAG."""
        from ml_pipeline.features.registry import views_for

        return bool(views_for(self.data.features, self.data.feature_functions))

    def content_hash(self) -> str:
        """Stable hash of the effective config (defaults included), for lineage; ``enabled`` is not the model's."""
        canonical = json.dumps(self.model_dump(mode="json", exclude={"enabled"}), sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


CONFIG_SUFFIX = ".yaml"


def load_model_config(path: str | Path) -> ModelConfig:
    """Read and validate one model config file; raise ``ConfigError`` naming file and field."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: a folder, not a config file: name its *{CONFIG_SUFFIX} files, or set "
                          "ML_PIPELINE_CONFIG_DIR to it and name none")
    if path.suffix != CONFIG_SUFFIX:  # the platform reads only *.yaml: anything else would pass here, then vanish
        raise ConfigError(f"{path}: model configs end in {CONFIG_SUFFIX} and the platform reads no other file: "
                          f"rename it to {path.stem}{CONFIG_SUFFIX}")
    try:
        raw: Any = read_yaml(path)
    except ValueError as exc:  # one bad file never hides the others
        raise ConfigError(str(exc)) from exc
    if raw is None:
        raise ConfigError(f"{path}: the file is empty: write the model's settings (`ml-pipeline new-model <name>` "
                          "writes a commented starter)")
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level (model_name: …, data: …), "
                          f"got a {type(raw).__name__}")
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: invalid model config: " + "; ".join(describe_errors(ModelConfig, exc))) from None


def config_dir() -> Path:
    """Folder of the model configs: ``ML_PIPELINE_CONFIG_DIR``, else the checkout's ``config/model_configs``."""
    default = Path(__file__).resolve().parents[2] / "config" / "model_configs"
    return Path(os.environ.get("ML_PIPELINE_CONFIG_DIR", default))


def named_rules_dir() -> Path | None:
    """``ML_PIPELINE_RULES_DIR`` (validation rules, ``schemas/``, ``platform_health.yaml``), or None when unset.

    Raises:
        ConfigError: It names no folder: a typo would otherwise drop every rule of the files there silently.
    """
    named = os.environ.get("ML_PIPELINE_RULES_DIR")
    if named is not None and not Path(named).is_dir():
        raise ConfigError(f"ML_PIPELINE_RULES_DIR={named} is not a folder: set it to the folder holding "
                          "data_validation_rules.yaml, schemas/ and platform_health.yaml (an empty folder: only the "
                          "rules the model configs imply, and the platform-health defaults), or unset it (default: "
                          "the parent of the model configs' folder, config/)")
    return None if named is None else Path(named)


def config_files(folder: Path | None = None) -> list[Path]:
    """The model configs of ``folder`` (default ``config_dir()``): its ``*.yaml`` files, sorted."""
    return sorted((folder or config_dir()).glob(f"*{CONFIG_SUFFIX}"))


def misnamed_config_files(folder: Path | None = None) -> list[Path]:
    """Files of ``folder`` that look like model configs but are not read (``.yml``, ``.YAML``), sorted."""
    return sorted(p for p in (folder or config_dir()).glob("*")
                  if p.suffix.lower() in (".yaml", ".yml") and p.suffix != CONFIG_SUFFIX)


def load_model_configs(paths: list[Path]) -> tuple[dict[Path, ModelConfig], dict[Path, str]]:
    """Load many configs: (valid configs, errors by file). One bad file never hides the others."""
    configs: dict[Path, ModelConfig] = {}
    errors: dict[Path, str] = {}
    owners: dict[str, Path] = {}
    endpoints: dict[str, Path] = {}
    for path in sorted(paths):
        try:
            config = load_model_config(path)
        except ConfigError as exc:
            errors[path] = str(exc)
            continue
        endpoint = config.deployment.endpoint_name
        if config.model_name in owners:
            errors[path] = (f"{path}: field 'model_name': '{config.model_name}' is already used by "
                            f"{owners[config.model_name]}; model names must be unique")
            continue
        if endpoint and endpoint in endpoints:
            errors[path] = (f"{path}: field 'deployment.endpoint_name': '{endpoint}' is already served for "
                            f"{endpoints[endpoint]}; each model needs an endpoint of its own")
            continue
        owners[config.model_name] = path
        if endpoint:
            endpoints[endpoint] = path
        configs[path] = config
    return configs, errors


STARTER_CONFIG = """\
# {name}: one file per model; `ml-pipeline check-config` validates it without Airflow.
model_name: {name}
model_type: xgboost          # the estimator: xgboost or lightgbm
description: What this model predicts, for whom.
enabled: true                # false: its DAGs are paused and its endpoint is not served
schedule: "0 3 * * *"        # cron, UTC; null for manual runs only
retries: 3                   # per task, with exponential backoff

data:
  source: s3://ml-data/{name}/   # daily partitions <source>/<YYYY-MM-DD>/*.parquet
  lookback_days: 7               # train on this many days ending at the run's date
  target_column: label           # 0/1 column to predict
  features:                      # raw columns pass through; derived ones need a feature function
    - feature_a
    - feature_b

training:
  hyperparameters:
    max_depth: 6
    learning_rate: 0.1
    n_estimators: 100
  validation_split: 0.2          # the most recent 20 % is the holdout

deployment:
  min_auc_threshold: 0.75        # promotion gate on holdout AUC
"""


def find_model_config(name: str, folder: Path | None = None,
                      fix: str = "check the model's name, or ML_PIPELINE_CONFIG_DIR") -> tuple[ModelConfig, Path]:
    """The config of model ``name`` in ``folder`` (default: the config dir), and its file.

    Raises:
        ConfigError: No config there that loads is ``name``'s: it names the folder, its models, how many configs
            there do not load, and ``fix``.
    """
    folder = folder or config_dir()
    configs, errors = load_model_configs(config_files(folder))
    for path, config in configs.items():
        if config.model_name == name:
            return config, path
    known = ", ".join(sorted(c.model_name for c in configs.values())) or "none"
    broken = f"; {len(errors)} config(s) there do not load (`ml-pipeline check-config`)" if errors else ""
    raise ConfigError(f"no model '{name}' in {folder} (models: {known}){broken}; {fix}")


def starter_config(name: str) -> str:
    """A commented config for a new model, valid as written."""
    return STARTER_CONFIG.format(name=name)
