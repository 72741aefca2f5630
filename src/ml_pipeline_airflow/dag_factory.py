"""Build every model's DAGs from its YAML config (one file per model in the config folder).

Parsing stays cheap: only configs (pydantic + YAML) are read at parse time, every
ML library is imported inside the tasks, and when Airflow runs a task only that
task's DAG is built (``get_parsing_context``). A broken config never hides the
other models: it becomes a DAG that shows the error (file, field, fix) in the UI
and fails when run.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from airflow.sdk import DAG, CronTriggerTimetable, Param, XComArg, get_parsing_context, task
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline.config import ModelConfig, config_dir, load_model_configs
from ml_pipeline_airflow.notifications.alerts import DagRunFailureAlert, TaskFailureAlert, deadline_alerts
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from ml_pipeline_airflow.tasks import training, validation

log = logging.getLogger(__name__)
CONFIG_ERROR_TAG = "config-error"


def default_args(config: ModelConfig) -> dict:
    """Task defaults: transient failures retried with exponential backoff (30 s, 60 s, 120 s … at most 10 min by
    default), everything else failed at once; a task that fails for good goes to the DLQ, Slack and email."""
    alerts = config.alerts
    return {"owner": config.owner, "retries": config.retries,
            "retry_delay": dt.timedelta(seconds=config.retry_delay_seconds),
            "retry_exponential_backoff": config.retry_backoff,
            "max_retry_delay": dt.timedelta(seconds=config.max_retry_delay_seconds),
            "retry_policy": TRANSIENT_ONLY, "execution_timeout": dt.timedelta(hours=2),
            "on_failure_callback": [TaskFailureAlert(config.model_name, alerts.slack_connection,
                                                     alerts.email_connection, list(alerts.email_to))]}


def build_training_dag(config: ModelConfig, path: Path) -> DAG:
    """The ``ml_training_<model>`` DAG: load → validate → features → train → evaluate → register → notify."""
    with DAG(
        dag_id=config.training_dag_id,
        description=config.description or f"Train {config.model_name}",
        schedule=_timetable(config.schedule),
        catchup=False,
        max_active_runs=1,
        tags=["ml", "training", config.model_name],
        default_args=default_args(config),
        deadline=deadline_alerts(config.model_name, config.alerts.deadline_minutes, config.alerts.slack_connection,
                                 config.alerts.email_connection, list(config.alerts.email_to)),
        on_failure_callback=run_failure_alert(config),
        doc_md=_training_doc(config, path),
    ) as dag:
        cfg = str(path)
        if config.data.partition_by:
            loaded, features = _partitioned_inputs(cfg)
        else:
            loaded = training.load_data(cfg)
            features = training.engineer_features(cfg, loaded)
            validate_data(cfg, loaded) >> features
        # Each task consumes its predecessors' XCom references, which also orders them.
        trained = training.train_model.override(pool=config.training.pool)(cfg, loaded, features)
        evaluation = training.evaluate_model(cfg, features, trained)
        registered = training.register_model(cfg, loaded, trained, evaluation)
        training.send_notification(cfg, loaded, trained, evaluation, registered)
    return dag


def run_failure_alert(config: ModelConfig) -> DagRunFailureAlert:
    """The DAG-level alert of a failed run (on top of the task-level ones)."""
    alerts = config.alerts
    return DagRunFailureAlert(config.model_name, alerts.slack_connection, alerts.email_connection,
                              list(alerts.email_to))


def _partitioned_inputs(cfg: str) -> tuple[XComArg, XComArg]:
    """Load, validate and engineer features once per ``partition_by`` value, then combine for training."""
    partitions = training.list_partitions(cfg)
    loaded_parts = training.load_data.partial(config_path=cfg).expand(partition=partitions)
    validated = DataValidationOperator.partial(task_id="validate_data", config_path=cfg,
                                               map_index_template=training.PARTITION_LABEL).expand(loaded=loaded_parts)
    feature_parts = training.engineer_features.partial(config_path=cfg).expand(loaded=loaded_parts)
    validated >> feature_parts
    combined = training.combine_partitions(cfg, loaded_parts, feature_parts)
    return combined["loaded"], combined["features"]


def validate_data(cfg: str, loaded: XComArg) -> DataValidationOperator:
    """The training pipeline's gate: every partition of the run's snapshot against the model's rules."""
    return DataValidationOperator(task_id="validate_data", config_path=cfg, loaded=loaded)


def build_validation_dag(config: ModelConfig, path: Path, schedule: str | None) -> DAG:
    """The ``data_validation_<model>`` DAG: wait for the day's partition, validate it (each slice), quarantine."""
    with DAG(
        dag_id=config.validation_dag_id,
        description=f"Validate each new partition of {config.model_name}'s data",
        schedule=_timetable(schedule),
        catchup=False,
        max_active_runs=1,
        tags=["ml", "data-validation", config.model_name],
        default_args=default_args(config),
        on_failure_callback=run_failure_alert(config),
        params={"partition_date": Param(None, type=["null", "string"], format="date",
                                        description="validate this day's partition (YYYY-MM-DD); "
                                                    "default: the run's date")},
        doc_md=_validation_doc(config, path),
    ) as dag:
        cfg = str(path)
        data_uri = validation.wait_for_partition(cfg)
        values = validation.list_partition_values(cfg)
        data_uri >> values
        DataValidationOperator.partial(
            task_id="validate_partition", config_path=cfg, data_uri=data_uri,
            map_index_template=training.PARTITION_LABEL).expand(partition_value=values)
    return dag


def build_config_error_dag(path: Path, error: str, prefix: str = "ml_training") -> DAG:
    """A DAG that shows a config's error in the UI and fails with it when triggered."""
    with DAG(dag_id=f"{prefix}_{_safe_id(path.stem)}", description=f"CONFIG ERROR: {error}"[:500],
             schedule=None, tags=["ml", CONFIG_ERROR_TAG], doc_md=f"### Config error\n\n```\n{error}\n```") as dag:

        @task(retries=0)
        def report_config_error() -> None:
            raise AirflowFailException(error)

        report_config_error()
    return dag


def build_all_training_dags(directory: Path | None = None) -> dict[str, DAG]:
    """One training DAG per config in ``directory`` (default: ``config_dir()``), by dag_id."""
    paths = sorted((directory or config_dir()).glob("*.yaml"))
    configs, errors = load_model_configs(paths)
    wanted = get_parsing_context().dag_id
    dags = {}
    for path, config in configs.items():
        if wanted in (None, config.training_dag_id):
            dags[config.training_dag_id] = build_training_dag(config, path)
    for path, error in errors.items():
        log.error("skipping model config %s", error)
        dag_id = f"ml_training_{_safe_id(path.stem)}"
        if wanted in (None, dag_id) and dag_id not in dags:
            dags[dag_id] = build_config_error_dag(path, error)
    return dags


def build_all_validation_dags(directory: Path | None = None) -> dict[str, DAG]:
    """One data validation DAG per valid model config (broken configs show up on the training side)."""
    from ml_pipeline.validation.model_rules import validation_schedule
    from ml_pipeline.validation.rules import RulesError

    paths = sorted((directory or config_dir()).glob("*.yaml"))
    configs, _ = load_model_configs(paths)
    wanted = get_parsing_context().dag_id
    dags = {}
    for path, config in configs.items():
        if wanted not in (None, config.validation_dag_id):
            continue
        try:
            dags[config.validation_dag_id] = build_validation_dag(config, path, validation_schedule(config, path))
        except RulesError as exc:
            log.error("skipping validation rules %s", exc)
            dags[config.validation_dag_id] = build_config_error_dag(path, str(exc), prefix="data_validation")
    return dags


def _timetable(cron: str | None) -> CronTriggerTimetable | None:
    """Cron in UTC; unpausing waits for the next slot. Airflow's default (``run_immediately=False``) still runs
    the last slot when it is less than a tenth of the period old: a daily DAG unpaused at 02:01 ran at once."""
    if cron is None:
        return None
    return CronTriggerTimetable(cron, timezone="UTC", run_immediately=dt.timedelta(0))


def _training_doc(config: ModelConfig, path: Path) -> str:
    return (f"### {config.model_name} — training\n\n{config.description}\n\n"
            f"Config: `{path.name}` · data: `{config.data.source}` ({config.data.lookback_days} days) · "
            f"features: {', '.join(f'`{f}`' for f in config.data.features)}\n\n"
            "`load_data` → `validate_data` → `engineer_features` → `train_model` → `evaluate_model` → "
            "`register_model` → `send_notification`\n\n"
            f"Registered in MLflow as `{config.model_name}`: alias `challenger`, promoted to `champion` when its "
            f"holdout AUC ≥ {config.deployment.min_auc_threshold} and beats the champion on the same holdout.")


def _validation_doc(config: ModelConfig, path: Path) -> str:
    return (f"### {config.model_name} — data validation\n\n"
            f"Waits for the day's partition of `{config.data.source}` (sensor in reschedule mode: no worker slot "
            "held), then checks it against the model's rules (`config/data_validation_rules.yaml`, the "
            f"`validation:` section of `{path.name}`, `config/schemas/{config.model_name}.yaml`). An `error` "
            "quarantines the partition and fails at once; the report is written next to the data "
            "(`_validation/`). Trigger with `partition_date` to re-check any day.")


def _safe_id(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in stem)
