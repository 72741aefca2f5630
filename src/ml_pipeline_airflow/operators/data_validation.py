"""``DataValidationOperator``: a model's data validation rules as a task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context


class DataValidationOperator(BaseOperator):
    """Check data against a model's validation rules; bad data fails at once, without retries.

    Give either ``loaded`` (the training pipeline's snapshot reference: every partition of the run's window
    is checked, exactly as it will be trained on) or ``data_uri`` (one landed partition, optionally one
    ``partition_value`` of the model's ``data.partition_by`` column). A partition that breaks an ``error``
    rule is quarantined and the task fails with every failed check; reports are written next to the data.

    Args:
        config_path: The model's config file.
        loaded: The ``load_data`` result (templated; an XCom reference in a DAG).
        data_uri: A partition folder or parquet file (templated).
        partition_value: Only the rows whose ``data.partition_by`` column has this value (templated).
    """

    template_fields: Sequence[str] = ("loaded", "data_uri", "partition_value")
    ui_color = "#f0e4b2"

    def __init__(self, *, config_path: str, loaded: Any = None, data_uri: str | None = None,
                 partition_value: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.loaded = loaded
        self.data_uri = data_uri
        self.partition_value = partition_value

    def execute(self, context: Context) -> dict:
        from ml_pipeline.pipelines import training, validation
        from ml_pipeline_airflow.runtime import run_step

        if self.loaded is not None:
            context["partition"] = self.loaded.get("partition") or ""
            return run_step(training.validate_data, self.config_path, self.loaded)
        context["partition"] = self.partition_value or ""
        return run_step(validation.validate_partition, self.config_path, self.data_uri, self.partition_value)
