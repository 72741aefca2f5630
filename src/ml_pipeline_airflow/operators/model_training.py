"""``ModelTrainingOperator``: train, log and evaluate a model as one task of a hand-written DAG."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

EVALUATION_KEY = "evaluation"
"""XCom key of the evaluation (``metrics``, ``champion``, ``decision``) next to the training result."""


class ModelTrainingOperator(BaseOperator):
    """Train a model on a run's features and log it with its lineage to MLflow; then, by default, evaluate it.

    The same core steps as the generated ``ml_training_<model>`` DAG (``train_model`` and ``evaluate_model`` of
    ``ml_pipeline.pipelines.training``), with the same failure classification: bad data or config fails at once,
    an unreachable MLflow or storage is retried by the task's retry policy. Training is idempotent per run, data
    and config: a retry reuses the MLflow run it already logged. A run started by an event whose inputs a version
    already learned is skipped, as in the generated DAG.

    The return value is the small training result (``mlflow_run_id``, ``model_uri``, ``train_rows``,
    ``holdout_rows``): references, never data. With ``evaluate``, the evaluation is pushed under the XCom key
    ``evaluation``, so ``task.output["evaluation"]`` feeds ``ModelRegistryOperator``.

    Args:
        config_path: The model's config file (templated).
        loaded: The ``load_data`` result, the run's snapshot reference (templated: an XComArg, or a Jinja
            ``ti.xcom_pull`` in a DAG with ``render_template_as_native_obj=True``).
        features: The ``engineer_features`` result, the feature table's reference (templated, as ``loaded``).
        evaluate: Also score the holdout and the current champion, and decide promotion.
        **kwargs: ``BaseOperator`` arguments (``task_id``, ``pool``, ``priority_weight`` …).
    """

    template_fields: Sequence[str] = ("config_path", "loaded", "features")
    ui_color = "#c9e4f6"

    def __init__(self, *, config_path: str, loaded: Any, features: Any, evaluate: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.loaded = loaded
        self.features = features
        self.evaluate = evaluate

    def execute(self, context: Context) -> dict:
        from ml_pipeline.pipelines import training
        from ml_pipeline_airflow.runtime import run_step, skip_if_trained_before

        skip_if_trained_before(self.config_path, self.loaded, self.features)
        trained = run_step(training.train_model, self.config_path, self.loaded, self.features)
        if self.evaluate:
            evaluation = run_step(training.evaluate_model, self.config_path, self.features, trained)
            context["ti"].xcom_push(key=EVALUATION_KEY, value=evaluation)
        return trained
