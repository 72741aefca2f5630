"""What the platform-health checks call a problem: ``config/platform_health.yaml`` (every field optional)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ml_pipeline.config import ConfigError, config_dir, named_rules_dir
from ml_pipeline.config_reading import describe_errors, read_yaml

SETTINGS_FILE = "platform_health.yaml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class HealthSettings(_Strict):
    """Thresholds of ``monitoring_ml_pipelines``; the defaults are the product's targets."""

    schedule: str | None = Field(default="*/30 * * * *", description="cron of monitoring_ml_pipelines (UTC)")
    failure_rate: float = Field(default=0.05, ge=0, le=1,
                                description="alert when a DAG's share of failed runs over 24 h exceeds this")
    min_runs: int = Field(default=3, ge=1, description="runs in 24 h before a failure rate or duration is judged")
    regression_factor: float = Field(default=1.5, gt=1,
                                     description="warn when the 24 h duration p95 exceeds the p95 of the 7 days "
                                                 "before this much")
    min_duration_s: float = Field(default=30, ge=0, description="durations below this are never a regression")
    sla_miss_rate: float = Field(default=0.05, ge=0, le=1,
                                 description="alert when more than this share of 24 h runs missed their deadline")
    waiting_minutes: float = Field(default=30, gt=0,
                                   description="a task scheduled or queued this long without starting is stuck")
    running_grace_minutes: float = Field(default=5, ge=0,
                                         description="a task running this long past its execution_timeout is stuck")
    deferred_hours: float = Field(default=48, gt=0, description="a task deferred this long is stuck")
    queued_run_minutes: float = Field(default=60, gt=0,
                                      description="a DAG run queued (behind max_active_runs) this long is stuck")
    heartbeat_max_s: float = Field(default=90, gt=0,
                                   description="a scheduler, triggerer or dag-processor silent this long is down")
    endpoint_timeout_s: float = Field(default=5, gt=0, description="a model endpoint slower than this is down")
    slack_connection: str | None = Field(default="slack_alerts", description="slackwebhook connection; null: none")
    email_connection: str | None = Field(default="smtp_default", description="smtp connection; null: no email")
    email_to: list[str] = Field(default_factory=lambda: ["ml-platform@localhost"])
    pagerduty_connection: str | None = Field(default=None, description="pagerduty connection: endpoints down page")
    retention_days: int = Field(default=35, ge=8, description="findings older than this are deleted")


def settings_path() -> Path:
    """``platform_health.yaml`` beside the validation rules: ``ML_PIPELINE_RULES_DIR``, else ``config/``."""
    return (named_rules_dir() or config_dir().parent) / SETTINGS_FILE


def load_settings(path: Path | None = None) -> HealthSettings:
    """The settings in ``path`` (default ``settings_path()``); Airflow's targets when there is no such file.

    Raises:
        ConfigError: The file is not YAML or a field is invalid; the message names the file, the field and the fix.
    """
    path = path or settings_path()
    if not path.exists():
        return HealthSettings()
    try:
        return HealthSettings.model_validate(read_yaml(path) or {})
    except ValidationError as exc:
        problems = "; ".join(describe_errors(HealthSettings, exc))
        raise ConfigError(f"{path}: invalid platform-health settings: {problems} (the checkout's "
                          "config/platform_health.yaml says what each field means, with its default)") from exc
    except ValueError as exc:  # not YAML, not UTF-8, a key written twice: read_yaml's message names the line
        raise ConfigError(str(exc)) from exc
