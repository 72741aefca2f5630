"""The training pipeline's tasks. Heavy libraries are imported inside each task.

XCom carries only what the core steps return: URIs, ids and metrics. Bad data and
bad config fail the task at once: retrying cannot fix them.
"""

from __future__ import annotations

import logging

from airflow.sdk import get_current_context, task

from ml_pipeline_airflow.runtime import (
    PARTITION_LABEL,
    announce_version,
    label_partition,
    run_step,
    skip_if_trained_before,
)

log = logging.getLogger(__name__)


@task
def list_partitions(config_path: str) -> list[str]:
    """Find the ``data.partition_by`` values of this run's data: one mapped task each downstream."""
    from ml_pipeline.pipelines import training

    return run_step(training.list_partitions, config_path)


@task(multiple_outputs=False, map_index_template=PARTITION_LABEL)
def load_data(config_path: str, partition: str | None = None) -> dict:
    """Freeze the input partitions (or one partition value of them) into this run's snapshot."""
    from ml_pipeline.pipelines import training

    label_partition(partition)
    return run_step(training.load_data, config_path, partition)


@task(multiple_outputs=True)  # its two keys are two XComs: training reads them apart
def combine_partitions(config_path: str, loaded: list[dict], features: list[dict]) -> dict:
    """Gather the mapped partitions' snapshots and features for training."""
    from ml_pipeline.pipelines import training

    return run_step(training.combine_partitions, config_path, list(loaded), list(features))


@task(multiple_outputs=False, map_index_template=PARTITION_LABEL)
def engineer_features(config_path: str, loaded: dict) -> dict:
    """Write the feature table of this run (derived features read point in time from the feature store)."""
    from ml_pipeline.pipelines import training

    label_partition(loaded.get("partition"))
    return run_step(training.engineer_features, config_path, loaded)


@task(multiple_outputs=False)
def train_model(config_path: str, loaded: dict, features: dict) -> dict:
    """Train and log the model (once per run, data and config).

    Skipped, with all that follows, when the run was started by an event (features, drift, decay, the clock) and a
    version already learned exactly its inputs: data, features, config, code, libraries (``trained_before``).
    """
    from ml_pipeline.pipelines import training

    skip_if_trained_before(config_path, loaded, features)
    return run_step(training.train_model, config_path, loaded, features)


@task(multiple_outputs=False)
def evaluate_model(config_path: str, features: dict, trained: dict) -> dict:
    """Holdout metrics, champion comparison and the promotion decision."""
    from ml_pipeline.pipelines import training

    return run_step(training.evaluate_model, config_path, features, trained)


@task(multiple_outputs=False)
def register_model(config_path: str, loaded: dict, trained: dict, evaluation: dict) -> dict:
    """Register the version with its lineage, alias it ``challenger``; its deployment DAG takes it from there."""
    from ml_pipeline.pipelines import training

    registered = run_step(training.register_model, config_path, loaded, trained, evaluation)
    announce_version(get_current_context(), registered)
    return registered


@task(multiple_outputs=False)
def send_notification(config_path: str, loaded: dict, trained: dict, evaluation: dict, registered: dict) -> dict:
    """Post the run's summary to the model's Slack and e-mail: version, holdout vs champion, data window, links.

    Sent on every successful run; a channel that is down is logged, it never fails the run.
    """
    from ml_pipeline.config import load_model_config
    from ml_pipeline.pipelines import training
    from ml_pipeline_airflow.notifications.announcements import announce, run_summary_note, run_url, version_url

    summary = run_step(training.summarize_run, config_path, loaded, trained, evaluation, registered)
    log.info("model %s v%s (%s): auc=%.4f, %s", summary["model_name"], summary["version"],
             ",".join(summary["aliases"]), summary["metrics"]["auc"], summary["decision"]["reason"])
    try:  # a summary that cannot be built or sent is logged: the model is trained and registered all the same
        note = run_summary_note(summary, evaluation.get("champion"), run_url(summary["dag_id"], summary["run_id"]),
                                version_url(summary["model_name"], summary["version"]))
        announce(note, load_model_config(config_path).alerts, get_current_context())
    except Exception:
        log.exception("run summary not sent")
    return summary
