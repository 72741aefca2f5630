"""The prose each model's DAG shows in the Airflow UI (``doc_md``), one function per kind.

Kept apart from the builders so a DAG's shape and its description can each be read (and changed) on their own.
"""

from __future__ import annotations

from pathlib import Path

from ml_pipeline.config import ModelConfig


def training_doc(config: ModelConfig, path: Path) -> str:
    """The training DAG's description: data, features, steps and the promotion gate."""
    return (f"### {config.model_name} — training\n\n{config.description}\n\n"
            f"Config: `{path.name}` · model type: `{config.model_type}` · data: `{config.data.source}` "
            f"({config.data.lookback_days} days) · features: {', '.join(f'`{f}`' for f in config.data.features)}"
            "\n\n`load_data` → `validate_data` → `engineer_features` → `train_model` → `evaluate_model` → "
            "`register_model` → `send_notification`\n\n"
            f"Registered in MLflow as `{config.model_name}`: alias `challenger`, promoted to `champion` when its "
            f"holdout AUC ≥ {config.deployment.min_auc_threshold} and beats the champion on the same holdout.")


def deployment_doc(config: ModelConfig, path: Path, training_dag_id: str) -> str:
    """The deployment DAG's description: gates, canary, promotion, verification, watch and rollback."""
    dep = config.deployment
    serving = (f"endpoint `{dep.endpoint_name}` (connection `serving_default`)" if dep.endpoint_name
               else "no endpoint (registry-only: aliases move, nothing is served)")
    return (f"### {config.model_name} — deployment\n\n"
            f"Started by each new `challenger` that `{training_dag_id}` registers (asset "
            f"`{config.model_name}_challenger`). `evaluate_challenger` scores it and the champion on the newest "
            f"{dep.holdout_days} landed day(s); `check_gates` needs AUC ≥ {dep.min_auc_threshold} and, against a "
            f"champion, + {dep.min_auc_improvement}. `run_canary` serves it in a staging instance "
            f"({'on' if dep.canary.enabled else 'off'}), `promote_challenger` moves `champion` (the old one keeps "
            f"`previous_champion`) and reloads {serving}, `verify_production` checks `/version` and smoke "
            f"predictions, `watch_live_performance` judges the next {dep.watch.window_days} day(s) of labelled "
            "data. Any failure after the promotion began runs `roll_back` (verified, alerted; a failed rollback "
            "goes to the DLQ), except a watch that could not read or score its data: no verdict, the champion "
            "stays, the alert says what to fix. Trigger with `action=rollback` (optional `to_version`) for a "
            "manual rollback: "
            f"`ml-pipeline rollback {config.model_name}`. History: `ml-pipeline deployments {config.model_name}`. "
            f"Config: `{path.name}`.")


def feature_doc(config: ModelConfig, path: Path, training_dag_id: str) -> str:
    """The feature DAG's description: which days it computes, its views, and the asset that starts training."""
    from ml_pipeline.features.registry import views_for

    views = ", ".join(f"`{v.name}`" for v in views_for(config.data.features, config.data.feature_functions))
    return (f"### {config.model_name} — features\n\n"
            f"Every run (`{config.feature_store.schedule}`) finds the days of `{config.data.source}` whose features "
            f"are missing or were computed from older data, validates each such day and computes its feature views "
            f"({views}) into the offline store, then `write_to_feature_store` registers them in Feast and "
            f"materializes the online store. Its outlet, the asset `{config.model_name}_features`, starts "
            f"`{training_dag_id}`; a run with nothing new emits no event. Definitions: "
            f"`src/ml_pipeline/features/registry.py`, selected by `data.features` in `{path.name}`.")


def validation_doc(config: ModelConfig, path: Path) -> str:
    """The data validation DAG's description: how it waits, what it checks, what a failure does."""
    return (f"### {config.model_name} — data validation\n\n"
            f"Waits for the day's partition of `{config.data.source}` (on S3: `S3DataSensor`, deferred to the "
            "triggerer; on a lake folder: a sensor in reschedule mode; neither holds a worker slot), then checks "
            "it against the model's rules (`config/data_validation_rules.yaml`, the "
            f"`validation:` section of `{path.name}`, `config/schemas/{config.model_name}.yaml`). An `error` "
            "quarantines the partition and fails at once; the report is written next to the data "
            "(`_validation/`). Trigger with `partition_date` to re-check any day.")


def monitoring_doc(config: ModelConfig, path: Path, training_dag_id: str) -> str:
    """The monitoring DAG's description: what it compares, what it does about it."""
    mon = config.monitoring
    retrain = (f"requests a retraining (asset `{config.model_name}_retrain_requested` → `{training_dag_id}`) for "
               f"{' or '.join(mon.retrain_on)}, at most once every {mon.retrain_cooldown_hours:g} h"
               if mon.retrain_on else "never retrains (`monitoring.retrain_on: []`)")
    return (f"### {config.model_name} — monitoring\n\n"
            f"Every run (`{mon.schedule}`) judges the champion on the newest {mon.window_hours:g} h of landed data "
            "against the snapshot it was trained on (profiled once per version): PSI per feature (reference-decile "
            "bins for numbers, categories plus an unseen bin for strings; warn ≥ "
            f"{mon.thresholds.warn:g}, alert ≥ {mon.thresholds.alert:g}; dataset drift when ≥ {mon.drift_share:.0%} "
            "of features alert), prediction drift of the logged scores against the champion's holdout scores, "
            f"target drift, and live AUC (decay: more than {mon.max_auc_drop:g} under the holdout AUC on ≥ "
            f"{mon.min_labelled_rows} labelled rows). Each check is a row of `model_monitoring` and a report (JSON "
            "and HTML with a chart per drifted feature) in the lake and in MLflow. An alert goes to Slack and "
            f"e-mail and {retrain}; the new challenger goes through the normal deployment gates. A window with no "
            f"new data is skipped, said why. Latest checks: `ml-pipeline monitor {config.model_name}`. Config: "
            f"`{path.name}`.")
