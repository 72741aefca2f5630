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

from airflow.sdk import (
    DAG,
    Asset,
    AssetOrTimeSchedule,
    CronTriggerTimetable,
    Param,
    XComArg,
    get_parsing_context,
    task,
)
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline.config import ModelConfig, config_dir, load_model_configs
from ml_pipeline.training.resources import platform_gpus, pool_problem, training_pool
from ml_pipeline_airflow.notifications.alerts import DagRunFailureAlert, TaskFailureAlert, deadline_alerts
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from ml_pipeline_airflow.tasks import deployment, features, training, validation

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
        schedule=_training_schedule(config),
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
            loaded, features = _partitioned_inputs(config, cfg)
        else:
            loaded = training.load_data(cfg)
            features = training.engineer_features(cfg, loaded)
            gate = validate_data(cfg, loaded)
            if config.uses_feature_store:
                gate >> wait_for_features(config, cfg, loaded) >> features
            else:
                gate >> features
        # Each task consumes its predecessors' XCom references, which also orders them.
        trained = train_model(config)(cfg, loaded, features)
        evaluation = training.evaluate_model(cfg, features, trained)
        registered = training.register_model.override(outlets=[challenger_asset(config)])(
            cfg, loaded, trained, evaluation)
        training.send_notification(cfg, loaded, trained, evaluation, registered)
    return dag


def train_model(config: ModelConfig):
    """The training task in its pool (``gpu``: one slot per GPU, or ``training``) with the model's priority: when
    the pool is full, higher-priority models train first (``absolute``: the weight is the config's, not summed
    over downstream tasks)."""
    pool = training_pool(config.training.device, config.training.pool, platform_gpus())
    return training.train_model.override(pool=pool, priority_weight=config.training.priority_weight,
                                         weight_rule="absolute")


def run_failure_alert(config: ModelConfig) -> DagRunFailureAlert:
    """The DAG-level alert of a failed run (on top of the task-level ones)."""
    alerts = config.alerts
    return DagRunFailureAlert(config.model_name, alerts.slack_connection, alerts.email_connection,
                              list(alerts.email_to))


def _partitioned_inputs(config: ModelConfig, cfg: str) -> tuple[XComArg, XComArg]:
    """Load, validate and engineer features once per ``partition_by`` value, then combine for training."""
    partitions = training.list_partitions(cfg)
    loaded_parts = training.load_data.partial(config_path=cfg).expand(partition=partitions)
    validated = DataValidationOperator.partial(task_id="validate_data", config_path=cfg,
                                               map_index_template=training.PARTITION_LABEL).expand(loaded=loaded_parts)
    feature_parts = training.engineer_features.partial(config_path=cfg).expand(loaded=loaded_parts)
    if config.uses_feature_store:
        waited = features.wait_for_features.override(timeout=_wait_limit(config)).partial(
            config_path=cfg, wait_seconds=config.feature_store.wait_timeout_minutes * 60,
            feature_dag_id=config.feature_dag_id).expand(loaded=loaded_parts)
        validated >> waited >> feature_parts
    else:
        validated >> feature_parts
    combined = training.combine_partitions(cfg, loaded_parts, feature_parts)
    return combined["loaded"], combined["features"]


def wait_for_features(config: ModelConfig, cfg: str, loaded: XComArg) -> XComArg:
    """Training's check that the store holds features computed from this run's snapshot (reschedule sensor)."""
    return features.wait_for_features.override(timeout=_wait_limit(config))(
        cfg, loaded, config.feature_store.wait_timeout_minutes * 60, config.feature_dag_id)


def _wait_limit(config: ModelConfig) -> float:
    """The sensor's own timeout, a backstop behind the task's clearer message at ``wait_timeout_minutes``."""
    return config.feature_store.wait_timeout_minutes * 60 + 600


def feature_asset(config: ModelConfig) -> Asset:
    """The Airflow Asset of a model's features in the store: its feature DAG produces it, training consumes it."""
    return Asset(name=f"{config.model_name}_features", uri=f"feast://ml_platform/{config.model_name}",
                 group="features")


def _training_schedule(config: ModelConfig):
    """Models with store features train when their features are updated, and on their cron if they have one (the
    daily guarantee: a clock run whose features are not fresh waits for them, then fails loudly)."""
    timetable = _timetable(config.schedule)
    if not config.uses_feature_store:
        return timetable
    asset = feature_asset(config)
    return AssetOrTimeSchedule(timetable=timetable, assets=[asset]) if timetable else [asset]


def challenger_asset(config: ModelConfig) -> Asset:
    """The Airflow Asset of a model's newest registered version: training produces it, deployment consumes it."""
    return Asset(name=f"{config.model_name}_challenger", uri=f"mlflow://models/{config.model_name}/challenger",
                 group="models")


def build_deployment_dag(config: ModelConfig, path: Path) -> DAG:
    """The ``model_deployment_<model>`` DAG: gates → canary → [approval] → promote → verify → watch; rollback on
    any failure after the promotion began. One run at a time per model: deployments never interleave."""
    from ml_pipeline_airflow.sensors.model_performance import ModelPerformanceSensor

    watch = config.deployment.watch
    with DAG(
        dag_id=config.deployment_dag_id,
        description=f"Gate, canary, promote and watch each new {config.model_name} challenger",
        schedule=[challenger_asset(config)],
        catchup=False,
        max_active_runs=1,
        tags=["ml", "deployment", config.model_name],
        default_args=default_args(config),
        on_failure_callback=run_failure_alert(config),
        params={"action": Param("deploy", enum=["deploy", "rollback"],
                                description="deploy the challenger, or roll back the champion"),
                "version": Param(None, type=["null", "string"], description="deploy this version (default: the "
                                                                             "asset event's, else the challenger)"),
                "to_version": Param(None, type=["null", "string"],
                                    description="rollback target (default: previous_champion)"),
                "reason": Param("", type="string", description="why (kept in the promotion history)")},
        doc_md=_deployment_doc(config, path),
    ) as dag:
        cfg = str(path)
        action = deployment.choose_action()
        evaluation = deployment.evaluate_challenger(cfg)
        canary = deployment.run_canary(cfg, evaluation)
        deployment.check_gates(cfg, evaluation) >> canary
        promoted = deployment.promote_challenger(cfg, evaluation, canary)
        if config.deployment.require_approval:
            canary >> approval(config, evaluation) >> promoted
        verified = deployment.verify_production(cfg, evaluation, promoted)
        watched = ModelPerformanceSensor(
            task_id="watch_live_performance", config_path=cfg, evaluation=evaluation, on_failure_callback=[],
            timeout=watch.timeout_hours * 3600, poke_interval=watch.poke_interval_seconds,
            execution_timeout=dt.timedelta(hours=watch.timeout_hours + 1))
        verified >> watched
        rolled_back = deployment.roll_back(cfg, evaluation)
        [promoted, verified, watched] >> rolled_back
        manual = deployment.roll_back_by_hand(cfg)
        action >> [evaluation, manual]
        # The run fails when any step did (even when rolled back): leaves that skip would hide it otherwise.
        dag.tasks >> deployment.fail_deployment()
    return dag


def approval(config: ModelConfig, evaluation: XComArg):
    """``deployment.require_approval``: a person approves the promotion in the Airflow UI (HITL); rejecting
    skips the promotion. Unanswered for a day, it is rejected."""
    from airflow.providers.standard.operators.hitl import ApprovalOperator

    return ApprovalOperator(
        task_id="approve_promotion", subject=f"Promote {config.model_name} to champion?",
        body=("Challenger v{{ ti.xcom_pull(task_ids='evaluate_challenger')['challenger']['version'] }}: "
              "{{ ti.xcom_pull(task_ids='evaluate_challenger')['decision']['reason'] }}. Canary: "
              "{{ ti.xcom_pull(task_ids='run_canary') }}"),
        defaults="Reject", response_timeout=dt.timedelta(days=1))


def build_all_deployment_dags(directory: Path | None = None) -> dict[str, DAG]:
    """One deployment DAG per valid model config."""
    paths = sorted((directory or config_dir()).glob("*.yaml"))
    configs, _ = load_model_configs(paths)
    wanted = get_parsing_context().dag_id
    return {config.deployment_dag_id: build_deployment_dag(config, path) for path, config in configs.items()
            if wanted in (None, config.deployment_dag_id)}


def build_feature_dag(config: ModelConfig, path: Path) -> DAG:
    """The ``feature_engineering_<model>`` DAG: new/changed days → validate + compute each → write to the store."""
    with DAG(
        dag_id=config.feature_dag_id,
        description=f"Compute {config.model_name}'s features into the feature store",
        schedule=_timetable(config.feature_store.schedule),
        catchup=False,
        max_active_runs=1,
        tags=["ml", "features", config.model_name],
        default_args=default_args(config),
        on_failure_callback=run_failure_alert(config),
        doc_md=_feature_doc(config, path),
    ) as dag:
        cfg = str(path)
        days = features.find_pending_days(cfg)
        computed = features.compute_features.partial(config_path=cfg).expand(day=days)
        features.write_to_feature_store.override(outlets=[feature_asset(config)])(cfg, computed)
    return dag


def build_all_feature_dags(directory: Path | None = None) -> dict[str, DAG]:
    """One feature DAG per valid model config with derived features (raw-only models need none)."""
    paths = sorted((directory or config_dir()).glob("*.yaml"))
    configs, _ = load_model_configs(paths)
    wanted = get_parsing_context().dag_id
    return {config.feature_dag_id: build_feature_dag(config, path) for path, config in configs.items()
            if config.uses_feature_store and wanted in (None, config.feature_dag_id)}


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
        source = dataset_uri(config)
        if source.startswith("s3://"):
            data_uri = validation.landed_partition(cfg)
            wait_on_s3(config, source) >> data_uri
        else:
            data_uri = validation.wait_for_partition.override(poke_interval=config.data.poke_interval_seconds)(cfg)
        values = validation.list_partition_values(cfg)
        data_uri >> values
        DataValidationOperator.partial(
            task_id="validate_partition", config_path=cfg, data_uri=data_uri,
            map_index_template=training.PARTITION_LABEL).expand(partition_value=values)
    return dag


PARTITION_DAY = "{{ params.partition_date or ds }}"


def dataset_uri(config: ModelConfig) -> str:
    """Where the model's data lives in this deployment: ``data.source`` through ``ML_DATA_URI_MAP`` (or under
    ``ML_LAKE_URI`` when relative), as the tasks will resolve it."""
    import os

    from ml_pipeline.data.uris import parse_uri_map, source_uri

    return source_uri(config.data.source, os.environ.get("ML_LAKE_URI", ""),
                      parse_uri_map(os.environ.get("ML_DATA_URI_MAP")))


def wait_on_s3(config: ModelConfig, source: str):
    """Data on S3: the Amazon provider's sensor, deferred to the triggerer (no worker slot while waiting)."""
    from ml_pipeline_airflow.sensors.s3_data import S3DataSensor

    bucket, _, prefix = source.removeprefix("s3://").partition("/")
    return S3DataSensor(task_id="wait_for_partition", bucket_name=bucket, prefix=f"{prefix}/{PARTITION_DAY}/",
                        min_size_mb=config.data.min_partition_mb, poke_interval=config.data.poke_interval_seconds,
                        timeout=6 * 3600)


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
    gpus = platform_gpus()
    for path, config in configs.items():
        if wanted in (None, config.training_dag_id):
            problem = pool_problem(config.training.device, config.training.pool, gpus)
            dags[config.training_dag_id] = (build_config_error_dag(path, f"{path}: {problem}") if problem
                                            else build_training_dag(config, path))
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


def _deployment_doc(config: ModelConfig, path: Path) -> str:
    dep = config.deployment
    serving = (f"endpoint `{dep.endpoint_name}` (connection `serving_default`)" if dep.endpoint_name
               else "no endpoint (registry-only: aliases move, nothing is served)")
    return (f"### {config.model_name} — deployment\n\n"
            f"Started by each new `challenger` that `{config.training_dag_id}` registers (asset "
            f"`{config.model_name}_challenger`). `evaluate_challenger` scores it and the champion on the newest "
            f"{dep.holdout_days} landed day(s); `check_gates` needs AUC ≥ {dep.min_auc_threshold} and, against a "
            f"champion, + {dep.min_auc_improvement}. `run_canary` serves it in a staging instance "
            f"({'on' if dep.canary.enabled else 'off'}), `promote_challenger` moves `champion` (the old one keeps "
            f"`previous_champion`) and reloads {serving}, `verify_production` checks `/version` and smoke "
            f"predictions, `watch_live_performance` judges the next {dep.watch.window_days} day(s) of labelled "
            "data. Any failure after the promotion began runs `roll_back` (verified, alerted; a failed rollback "
            "goes to the DLQ). Trigger with `action=rollback` (optional `to_version`) for a manual rollback: "
            f"`ml-pipeline rollback {config.model_name}`. History: `ml-pipeline deployments {config.model_name}`. "
            f"Config: `{path.name}`.")


def _feature_doc(config: ModelConfig, path: Path) -> str:
    views = ", ".join(f"`{v.name}`" for v in _views(config))
    return (f"### {config.model_name} — features\n\n"
            f"Every run (`{config.feature_store.schedule}`) finds the days of `{config.data.source}` whose features "
            f"are missing or were computed from older data, validates each such day and computes its feature views "
            f"({views}) into the offline store, then `write_to_feature_store` registers them in Feast and "
            f"materializes the online store. Its outlet, the asset `{config.model_name}_features`, starts "
            f"`{config.training_dag_id}`; a run with nothing new emits no event. Definitions: "
            f"`src/ml_pipeline/features/registry.py`, selected by `data.features` in `{path.name}`.")


def _views(config: ModelConfig):
    from ml_pipeline.features.registry import views_for

    return views_for(config.data.features, config.data.feature_functions)


def _validation_doc(config: ModelConfig, path: Path) -> str:
    return (f"### {config.model_name} — data validation\n\n"
            f"Waits for the day's partition of `{config.data.source}` (on S3: `S3DataSensor`, deferred to the "
            "triggerer; on a lake folder: a sensor in reschedule mode; neither holds a worker slot), then checks "
            "it against the model's rules (`config/data_validation_rules.yaml`, the "
            f"`validation:` section of `{path.name}`, `config/schemas/{config.model_name}.yaml`). An `error` "
            "quarantines the partition and fails at once; the report is written next to the data "
            "(`_validation/`). Trigger with `partition_date` to re-check any day.")


def _safe_id(stem: str) -> str:
    return "".join(c if c.isalnum() or c in "_-." else "_" for c in stem)
