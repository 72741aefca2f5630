"""``data_validation_<model>``: wait for the day's partition, validate it (each slice), quarantine on error.

On S3 the wait is the Amazon provider's deferrable sensor (no worker slot held); on a lake folder, a sensor in
reschedule mode. The schedule comes from the validation rules (``config/data_validation_rules.yaml``).
"""

from __future__ import annotations

import os
from pathlib import Path

from airflow.sdk import DAG, Param

from ml_pipeline.config import ModelConfig
from ml_pipeline_airflow import dag_ids
from ml_pipeline_airflow.dag_kinds.base import DagKind
from ml_pipeline_airflow.dag_kinds.common import dag_arguments, timetable
from ml_pipeline_airflow.dag_kinds.docs import validation_doc
from ml_pipeline_airflow.notifications.alerts import run_deadline_alerts
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.runtime import PARTITION_LABEL
from ml_pipeline_airflow.tasks import validation

PARTITION_DAY = "{{ params.partition_date or (dag_run.logical_date or dag_run.run_after) | ds }}"
"""The day a run validates: its ``partition_date``, else its logical date, else (a manual run without one) when it
was due, as ``run_date`` reads it for the local lake (``ds`` is undefined in a run without a logical date)."""


def build_validation_dag(config: ModelConfig, path: Path) -> DAG:
    """The model's data validation DAG; ``RulesError`` when its rules files are broken."""
    from ml_pipeline.validation.model_rules import validation_schedule

    with DAG(
        dag_id=VALIDATION.dag_id(config.model_name),
        description=f"Validate each new partition of {config.model_name}'s data",
        schedule=timetable(validation_schedule(config, path)),
        deadline=run_deadline_alerts(config.model_name, config.alerts, "validation"),
        **dag_arguments(config, "data-validation"),
        params={"partition_date": Param(None, type=["null", "string"], format="date",
                                        description="validate this day's partition (YYYY-MM-DD); "
                                                    "default: the run's date")},
        doc_md=validation_doc(config, path),
    ) as dag:
        cfg = str(path)
        source = dataset_uri(config)
        if source.startswith("s3://"):
            data_uri = validation.landed_partition(cfg)
            validation.check_partition_day(cfg) >> _wait_on_s3(config, source) >> data_uri
        else:
            data_uri = validation.wait_for_partition.override(poke_interval=config.data.poke_interval_seconds)(cfg)
        values = validation.list_partition_values(cfg)
        data_uri >> values
        DataValidationOperator.partial(
            task_id="validate_partition", config_path=cfg, data_uri=data_uri,
            map_index_template=PARTITION_LABEL).expand(partition_value=values)
    return dag


def dataset_uri(config: ModelConfig) -> str:
    """Where the model's data lives in this deployment, as the tasks will resolve it.

    That is ``data.source`` through ``ML_DATA_URI_MAP`` (or under ``ML_LAKE_URI`` when relative).
    """
    from ml_pipeline.data.uris import parse_uri_map, source_uri

    return source_uri(config.data.source, os.environ.get("ML_LAKE_URI", ""),
                      parse_uri_map(os.environ.get("ML_DATA_URI_MAP")))


def _wait_on_s3(config: ModelConfig, source: str):
    """Data on S3: the Amazon provider's sensor, deferred to the triggerer (no worker slot while waiting)."""
    from ml_pipeline_airflow.sensors.s3_data import S3DataSensor

    bucket, _, prefix = source.removeprefix("s3://").partition("/")
    return S3DataSensor(task_id="wait_for_partition", bucket_name=bucket, prefix=f"{prefix}/{PARTITION_DAY}/",
                        min_size_mb=config.data.min_partition_mb, poke_interval=config.data.poke_interval_seconds,
                        timeout=6 * 3600)


VALIDATION = DagKind(name="data-validation", prefix=dag_ids.VALIDATION, build=build_validation_dag,
                     deadline="validation")
