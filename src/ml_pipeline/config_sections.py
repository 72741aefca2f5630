"""The sections of a model config and the field types they share (cron, e-mail, bounded durations).

Sections: ``data:``, ``training:``, ``deployment:``, ``alerts:``, ``feature_store:``, ``monitoring:``, ``lineage:``.

``ml_pipeline.config`` puts them together into ``ModelConfig`` and re-exports them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from ml_pipeline.data.paths import check_partition_column
from ml_pipeline.data.sources import check_source
from ml_pipeline.training.resources import Device

CRON_PRESETS = ("@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually")
# Upper bounds of what becomes a duration or a count in a DAG: past them a typo (1e300) would overflow Airflow's
# timedeltas and break the model's DAGs instead of being refused here.
DAY_SECONDS = 86_400.0
WEEK_MINUTES = 7 * 24 * 60.0


def check_cron(value: str | None) -> str | None:
    """``value`` when it is a cron expression Airflow schedules by (five fields, or a preset), else ``ValueError``.

    An expression that never fires (``0 0 31 2 *``) is refused too: its DAG would wait forever, silently.
    """
    if value is None:
        return None
    from croniter import CroniterBadDateError, croniter  # Airflow's own cron parser: what it accepts, we accept

    expression = value.strip()
    if expression in CRON_PRESETS or (len(expression.split()) == 5 and croniter.is_valid(expression)):
        try:
            croniter(expression).get_next()
        except CroniterBadDateError:
            raise ValueError(f"{value!r} never fires (no such date): fix the day of month or month") from None
        return value
    raise ValueError(f"{value!r} is not a cron expression: five fields (minute hour day-of-month month "
                     f"day-of-week, UTC), e.g. '0 2 * * *', or one of {', '.join(CRON_PRESETS)}; null for manual "
                     "runs only")


def check_email(value: str) -> str:
    """``value`` when it looks like an e-mail address (``name@domain``), else ``ValueError``."""
    name, at, domain = value.partition("@")
    if not (name and at and domain) or any(c.isspace() for c in value) or "@" in domain:
        raise ValueError(f"{value!r} is not an e-mail address: write it as name@domain")
    return value


Cron = Annotated[str | None, AfterValidator(check_cron)]
Email = Annotated[str, AfterValidator(check_email)]


class _Strict(BaseModel):
    # strict: YAML's types as written (`retries: true`, `enabled: 1`, `min_auc_threshold: "0.9"` are refused, not
    # converted); a whole number is still a float
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class DataConfig(_Strict):
    """Where the training data comes from and which columns the model uses."""

    source: Annotated[str, AfterValidator(check_source)] = Field(
        description="Dataset URI (s3://…, file://… under the data roots) or a folder under the lake root; "
                    "other schemes and roots only as the platform allows (ML_DATA_ALLOWED_SCHEMES/_ROOTS).")
    lookback_days: int = Field(default=7, ge=1, le=366)
    target_column: str
    timestamp_column: str = Field(default="event_time", description="Event time: orders the time-based split.")
    partition_by: Annotated[str | None, AfterValidator(check_partition_column)] = Field(
        default=None, description="Column whose values split load/validate/features into one task each.")
    min_partition_mb: float = Field(default=0.0, ge=0, description="on S3, the validation DAG waits until a day's "
                                                                   "files add up to this many MB")
    poke_interval_seconds: float = Field(default=300, gt=0, le=DAY_SECONDS,
                                         description="how often sensors check for a landed partition")
    features: list[str] = Field(min_length=1)
    feature_functions: list[str] | None = Field(
        default=None, description="Registered feature views to join; default: those producing a listed feature.")

    @field_validator("feature_functions")
    @classmethod
    def _registered_views(cls, names: list[str] | None) -> list[str] | None:
        from ml_pipeline.features.registry import FEATURE_VIEWS  # no data library: cheap for the DAG files

        unknown = [name for name in names or () if name not in FEATURE_VIEWS]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))} is no registered feature view (registered: "
                             f"{', '.join(FEATURE_VIEWS)}; ml_pipeline/features/registry.py); remove it, or leave "
                             "feature_functions out to join the views that produce the listed features")
        return names

    @model_validator(mode="after")
    def _columns_make_a_model(self) -> DataConfig:
        named = {"target_column": self.target_column, "timestamp_column": self.timestamp_column}
        for field, name in named.items():
            if not name.strip() or name != name.strip():
                raise ValueError(f"field 'data.{field}': {name!r} is no column name (empty, or spaces around it)")
        odd = [name for name in self.features if not name.strip() or name != name.strip()]
        twice = sorted({name for name in self.features if self.features.count(name) > 1})
        if odd or twice:
            raise ValueError(f"field 'data.features': {odd + twice} are empty, padded with spaces or listed twice; "
                             "list each column once, as it is named in the data")
        if self.target_column in self.features:
            raise ValueError(f"field 'data.features': {self.target_column!r} is the target_column: the model would "
                             "be given its own label; remove it from data.features")
        if self.timestamp_column == self.target_column:
            raise ValueError(f"field 'data.timestamp_column': {self.timestamp_column!r} is the target_column too: "
                             "name the column of event times")
        return self


class TrainingConfig(_Strict):
    """How the model is trained."""

    hyperparameters: dict[str, float | int | str | bool] = Field(default_factory=dict)
    validation_split: float = Field(default=0.2, gt=0.0, lt=0.9)
    seed: int = 42
    device: Device = Field(
        default="auto", description="auto: the GPU when the platform and worker have one (and the GPU extra is "
                                    "installed), else the CPU; gpu: a GPU or fail; cpu: never a GPU")
    pool: str | None = Field(default=None, description="Airflow pool that bounds concurrent training jobs; default "
                                                       "by device: `gpu` (one slot per GPU) or `training`")
    priority_weight: int = Field(default=1, ge=1, le=1000, description="who trains first when the pool is full: "
                                                                       "higher first")


class CanaryConfig(_Strict):
    """The challenger's trial in a staging serving instance before it may become champion."""

    enabled: bool = True
    requests: int = Field(default=20, ge=1, le=10_000, description="requests sent to the staging instance")
    rows_per_request: int = Field(default=50, ge=1, le=1_000, description="rows in each request; at most the model "
                                  "servers' default ML_SERVING_MAX_ROWS (1000), which refuses larger batches")
    max_error_rate: float = Field(default=0.0, ge=0.0, le=1.0, description="failed requests / requests")
    max_p95_ms: float = Field(default=500.0, gt=0, le=600_000, description="latency p95 of the canary's requests")
    score_tolerance: float = Field(default=1e-6, ge=0.0,
                                   description="largest |served - offline| score on the same rows")
    startup_timeout_seconds: float = Field(default=180.0, gt=0, le=3600)


class WatchConfig(_Strict):
    """After promotion: the new champion's metric on labelled data that lands later; below it, roll back."""

    window_days: int = Field(default=1, ge=0, le=30, description="days of new data to judge on; 0: no watch")
    min_auc: float | None = Field(default=None, ge=0.0, le=1.0,
                                  description="live AUC below this rolls back (default: min_auc_threshold)")
    timeout_hours: float = Field(default=30.0, gt=0, le=24 * 90,
                                 description="no live data by then: keep the champion, warn (at most 90 days)")
    poke_interval_seconds: float = Field(default=600.0, gt=0, le=DAY_SECONDS)


class DeploymentConfig(_Strict):
    """Gates a trained model must pass before promotion, and how it is put into production."""

    min_auc_threshold: float = Field(default=0.85, ge=0.0, le=1.0)
    min_auc_improvement: float = Field(default=0.0, ge=0.0, le=1.0,
                                       description="a challenger must beat the champion's AUC by this margin")
    holdout_days: int = Field(default=1, ge=1, le=30,
                              description="newest landed days both models are judged on at deployment")
    endpoint_name: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$",
                                      description="serving endpoint; null: registry-only promotion")
    require_approval: bool = Field(default=False, description="a human approves each promotion (Airflow HITL)")
    canary: CanaryConfig = CanaryConfig()
    watch: WatchConfig = WatchConfig()


class AlertsConfig(_Strict):
    """Where this model's pipelines report (Airflow connection ids; null: that channel is off), and run deadlines.

    Slack and e-mail get failures, run summaries, deployment and monitoring announcements; PagerDuty only what
    needs a human now (a production rollback, a failed rollback, an endpoint down).
    """

    slack_connection: str | None = Field(default="slack_alerts", description="slackwebhook connection; null: none")
    email_connection: str | None = Field(default="smtp_default", description="smtp connection; null: no email")
    email_to: list[Email] = Field(default_factory=lambda: ["ml-alerts@localhost"])
    pagerduty_connection: str | None = Field(default=None, description="pagerduty_events connection that pages on "
                                                                       "critical events; null: never page")
    deadline_minutes: float = Field(default=120, gt=0, le=WEEK_MINUTES,
                                    description="alert when a training run takes longer than this (at most a week)")
    features_deadline_minutes: float | None = Field(default=60, gt=0, le=WEEK_MINUTES,
                                                    description="the same for a feature run (hourly); null: none")
    validation_deadline_minutes: float | None = Field(default=420, gt=0, le=WEEK_MINUTES,
                                                      description="the same for a validation run (its partition "
                                                                  "wait lasts up to 6 h); null: none")
    deployment_deadline_minutes: float | None = Field(default=2040, gt=0, le=WEEK_MINUTES,
                                                      description="the same for a deployment run, its live watch "
                                                                  "included (keep it above deployment.watch."
                                                                  "timeout_hours + 1 h); null: none")

    def deadline_for(self, kind: str) -> float | None:
        """The deadline in minutes of a ``kind`` DAG run, or None when that kind has none.

        Args:
            kind: ``training``, ``features``, ``validation`` or ``deployment``.

        Raises:
            ValueError: ``kind`` is none of those (monitoring runs have no deadline).
        """
        kinds = ("training", "features", "validation", "deployment")
        if kind not in kinds:
            raise ValueError(f"no deadline for DAG kind {kind!r}: one of {', '.join(kinds)}")
        return self.deadline_minutes if kind == "training" else getattr(self, f"{kind}_deadline_minutes")


class FeatureStoreConfig(_Strict):
    """How a model's derived features are computed into the feature store and waited for by training."""

    schedule: Cron = Field(default="5 * * * *", description="cron of feature_engineering_<model> (UTC); "
                                                               "null: only when triggered")
    lookback_days: int | None = Field(default=None, ge=1, le=366,
                                      description="daily partitions each feature run checks (data.lookback_days)")
    wait_timeout_minutes: float = Field(default=60, gt=0, le=WEEK_MINUTES,
                                        description="training waits this long for fresh features of its window, "
                                                    "then fails")


class FeatureThresholds(_Strict):
    """Drift levels of one feature (or of every feature): below ``warn`` stable, from ``alert`` on drifted."""

    warn: float = Field(default=0.1, gt=0, le=10.0)
    alert: float = Field(default=0.25, gt=0, le=10.0)
    method: Literal["psi", "wasserstein"] = Field(
        default="psi", description="psi: PSI over the reference's bins; wasserstein (numeric features): distance "
                                   "in reference standard deviations, for smooth aggregates whose PSI is noisy")

    @model_validator(mode="after")
    def _ordered(self) -> FeatureThresholds:
        if self.alert < self.warn:
            raise ValueError(f"alert ({self.alert}) is below warn ({self.warn}): alert must be at least warn")
        return self


RetrainCause = Literal["drift", "decay"]


class MonitoringConfig(_Strict):
    """The champion watched in production: input and prediction drift, live performance, retraining on evidence."""

    schedule: Cron = Field(default="15 * * * *", description="cron of model_monitoring_<model> (UTC, default "
                                                                "hourly); null: only when triggered")
    window_hours: float = Field(default=24, gt=0, le=24 * 30,
                                description="newest landed data (and logged predictions) judged on")
    thresholds: FeatureThresholds = Field(default_factory=FeatureThresholds,
                                          description="PSI levels of every feature (credit-scoring convention)")
    features: dict[str, FeatureThresholds] = Field(default_factory=dict,
                                                   description="per-feature levels; what an entry leaves out "
                                                               "comes from `thresholds`")
    drift_share: float = Field(default=0.3, gt=0, le=1.0,
                               description="dataset drift when this share of features (or more) is at alert level")
    max_auc_drop: float = Field(default=0.05, ge=0, le=1.0,
                                description="decay: live AUC this far below the champion's holdout AUC")
    min_labelled_rows: int = Field(default=500, ge=1, le=10_000_000,
                                   description="labelled rows needed before live performance is judged")
    min_rows: int = Field(default=200, ge=1, le=10_000_000,
                          description="rows a window needs to be judged; fewer: the check is skipped, said why")
    entity_key: str | None = Field(default=None, description="request field that identifies a row (e.g. "
                                                             "transaction_id): joins logged predictions to labels")
    retrain_on: list[RetrainCause] = Field(default_factory=lambda: ["drift", "decay"],
                                           description="causes that request a retraining; [] never retrains")
    retrain_cooldown_hours: float = Field(default=24, ge=0, le=24 * 90,
                                          description="after a retraining request, none for this long")

    @model_validator(mode="before")
    @classmethod
    def _features_over_thresholds(cls, data: Any) -> Any:
        """A feature's entry takes what it leaves out from ``thresholds``; an inherited level yields to its own."""
        if not isinstance(data, dict) or not isinstance(data.get("features"), dict):
            return data
        base = data.get("thresholds", {})
        base = base.model_dump(exclude_unset=True) if isinstance(base, BaseModel) else base
        if not isinstance(base, dict):
            return data
        inherited = {**FeatureThresholds().model_dump(),  # a typo in thresholds is said once, there
                     **{key: base[key] for key in ("warn", "alert", "method") if key in base}}

        def own(entry: Any) -> Any:
            return entry.model_dump(exclude_unset=True) if isinstance(entry, BaseModel) else entry

        def merged(mine: dict) -> dict:
            levels = {**inherited, **mine}
            if all(isinstance(levels[k], int | float) and 0 < levels[k] <= 10 for k in ("warn", "alert")):  # else said
                key, pick = ("warn", min) if "warn" not in mine else ("alert", max) if "alert" not in mine else ("", 0)
                levels.update({key: pick(levels["warn"], levels["alert"])} if key else {})
            return levels

        return {**data, "features": {name: merged(own(entry)) if isinstance(own(entry), dict) else entry
                                     for name, entry in data["features"].items()}}


class LineageConfig(_Strict):
    """What a model keeps so that its versions can be rebuilt: each training run's frozen input (its snapshot)."""

    keep_snapshots_days: int = Field(default=30, ge=1, le=3650,
                                     description="`ml-pipeline gc` deletes a run's snapshot (its run folder) once "
                                                 "older than this; never the champion's, previous champion's or "
                                                 "challenger's")
