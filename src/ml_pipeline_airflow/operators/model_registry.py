"""``ModelRegistryOperator``: register a trained model version as the model's challenger."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context


class ModelRegistryOperator(BaseOperator):
    """Register a trained model in the MLflow registry with its lineage and alias the version ``challenger``.

    The same core step as the generated DAG's ``register_model`` (``ml_pipeline.pipelines.training``): the
    version is registered once per MLflow run (a retry or rerun adds none), tagged with the data snapshot, config,
    code and run that produced it, its holdout AUC and the promotion reason. It never moves ``champion``: only the
    model's deployment DAG promotes, after its gates and canary. Give the model's challenger asset as ``outlets``
    (``ml_pipeline_airflow.dag_kinds.common.challenger_asset``) to start that DAG; each outlet's event carries
    ``{"model", "version"}``.

    Args:
        config_path: The model's config file (templated).
        loaded: The ``load_data`` result, for the lineage tags (templated: an XComArg, or a Jinja
            ``ti.xcom_pull`` in a DAG with ``render_template_as_native_obj=True``).
        trained: ``ModelTrainingOperator``'s return value (templated, as ``loaded``).
        evaluation: The evaluation: ``ModelTrainingOperator``'s ``output["evaluation"]`` or the
            ``evaluate_model`` task's result (templated, as ``loaded``).
        **kwargs: ``BaseOperator`` arguments (``task_id``, ``outlets`` …).
    """

    template_fields: Sequence[str] = ("config_path", "loaded", "trained", "evaluation")
    ui_color = "#d8f0d2"

    def __init__(self, *, config_path: str, loaded: Any, trained: Any, evaluation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.loaded = loaded
        self.trained = trained
        self.evaluation = evaluation

    def execute(self, context: Context) -> dict:
        from ml_pipeline.pipelines import training
        from ml_pipeline_airflow.runtime import announce_version, run_step

        registered = run_step(training.register_model, self.config_path, self.loaded, self.trained, self.evaluation)
        announce_version(context, registered)
        return registered
