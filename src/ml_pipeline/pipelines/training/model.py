"""Train, evaluate and register the model: the steps that talk to MLflow.

MLflow, the model's library and scikit-learn are imported inside the steps: a data step's task should not pay
seconds of imports for libraries it never calls. Each step builds one ``MlflowClient``.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os

from ml_pipeline.data.lake import read_parquet
from ml_pipeline.estimators.base import Estimator
from ml_pipeline.lineage import lineage_tags
from ml_pipeline.lineage.record import CONFIG_ARTIFACT, RULES_ARTIFACT, VERSION_TAGS, TrainingRecord
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.training.feature_table import split_features, split_frame
from ml_pipeline.pipelines.training.results import (
    Evaluation,
    FeatureTable,
    RegisteredVersion,
    RunSummary,
    Snapshot,
    TrainedModel,
)

log = logging.getLogger(__name__)


def train_model(ctx: RunContext, loaded: Snapshot, features: FeatureTable) -> TrainedModel:
    """Train on the older part of the features and log the model with its lineage to MLflow.

    The run gets every ``lineage.*`` tag, the training and holdout data as MLflow datasets, and the record that
    ``reproduce`` rebuilds the model from (``lineage/lineage.json``, the config and rules as they were).
    """
    from mlflow import MlflowClient

    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.registry import mlflow_lineage
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.trainer import to_model_input, train_classifier

    client = MlflowClient(ctx.tracking_uri)
    experiment = registry.experiment_id(client, ctx.config.model_name)
    run_key = ctx.run_key(loaded["data_hash"])
    table = read_parquet(features["features_uri"])
    train, holdout = split_frame(ctx, table)
    sizes = {"train_rows": train.height, "holdout_rows": holdout.height}
    existing = registry.find_finished_run(client, experiment, run_key)
    if existing:
        log.info("run key %s already trained as MLflow run %s: reusing it", run_key, existing[0])
        return {"mlflow_run_id": existing[0], "model_uri": existing[1], **sizes}
    cfg = ctx.config
    estimator = get_estimator(cfg.model_type)
    device = estimator.choose_device(cfg.training.device)
    log.info("training %s (%s) on %s (%s)", cfg.model_name, estimator.name, device.device, device.reason)
    model = train_classifier(train, cfg.data.features, cfg.data.target_column, cfg.training.hyperparameters,
                             cfg.training.seed, train_threads(), device.device, estimator.name)
    record = training_record(ctx, loaded, features, table, train, holdout, device.device)
    data = mlflow_lineage.RunDatasets(train, holdout, features["features_uri"], cfg.data.target_column)
    texts = {**_validation_reports(ctx), **_config_texts(ctx)}
    run_id, model_uri = registry.log_training_run(
        ctx.tracking_uri, cfg.model_name, run_key, {**_lineage(ctx, loaded), "training.device_reason": device.reason},
        params={**cfg.training.hyperparameters, "features": ",".join(cfg.data.features),
                "validation_split": cfg.training.validation_split, "seed": cfg.training.seed,
                "device": device.device, "threads": record.threads, **sizes},
        model=model, input_example=to_model_input(train.head(5), cfg.data.features),
        pip_requirements=pip_requirements(estimator), model_type=estimator.name,
        inside_run=lambda run: mlflow_lineage.log_run_lineage(run, record, data, texts))
    return {"mlflow_run_id": run_id, "model_uri": model_uri, **sizes}


def training_record(ctx: RunContext, loaded: Snapshot, features: FeatureTable, table, train, holdout,
                    device: str) -> TrainingRecord:
    """What decided this run's model (``lineage/lineage.json``): inputs with their digests, settings, software."""
    from ml_pipeline.data.lake import hash_frame
    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.lineage.record import current_code, current_packages

    cfg = ctx.config
    return TrainingRecord(
        model=cfg.model_name, model_type=cfg.model_type, config_path=str(ctx.config_path),
        config_hash=cfg.content_hash(), snapshot_uri=loaded["snapshot_uri"], data_hash=loaded["data_hash"],
        rows=loaded["rows"], partitions=list(loaded["partitions"]), features_uri=features["features_uri"],
        features_sha256=hash_frame(table), train_sha256=hash_frame(train),
        holdout_sha256=hash_frame(holdout), train_rows=train.height, holdout_rows=holdout.height,
        hyperparameters=dict(cfg.training.hyperparameters), seed=cfg.training.seed, threads=train_threads(),
        device=device, features_from_store=bool(cfg.uses_feature_store and ctx.feature_store is not None),
        dag_id=ctx.dag_id, run_id=ctx.run_id, trigger=ctx.trigger, logical_date=ctx.logical_date.isoformat(),
        code=current_code(), packages=current_packages(get_estimator(cfg.model_type).distributions))


def evaluate_model(ctx: RunContext, features: FeatureTable, trained: TrainedModel) -> Evaluation:
    """Score the holdout with the new model and the current champion; decide promotion."""
    from mlflow import MlflowClient

    from ml_pipeline.data.lake import hash_frame
    from ml_pipeline.evaluation.metrics import classification_metrics, promotion_decision
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.registry.mlflow_lineage import log_holdout_metrics
    from ml_pipeline.training.trainer import to_model_input

    cfg = ctx.config
    _, holdout = split_features(ctx, features)
    x, y = to_model_input(holdout, cfg.data.features), holdout[cfg.data.target_column].to_numpy()
    model = registry.load_model(ctx.tracking_uri, trained["model_uri"])
    metrics = classification_metrics(y, model.predict_proba(x)[:, 1]).as_dict()
    client = MlflowClient(ctx.tracking_uri)
    log_holdout_metrics(client, trained["mlflow_run_id"], trained["model_uri"], cfg.model_name, metrics,
                        hash_frame(holdout))
    champion = _champion_auc(ctx, client, x, y)
    if champion and champion["run_id"] == trained["mlflow_run_id"]:
        champion = None  # a rerun of the run that made the champion: judge it on the gates alone
    decision = promotion_decision(metrics["auc"], champion and champion["auc"], cfg.deployment.min_auc_threshold)
    return {"metrics": metrics, "champion": champion, "decision": decision}


def register_model(ctx: RunContext, loaded: Snapshot, trained: TrainedModel,
                   evaluation: Evaluation) -> RegisteredVersion:
    """Register the model once with a few lineage tags (``VERSION_TAGS``), alias it ``challenger``.

    The registered model gets the config's description; the rest of the lineage stays on the run.

    Only the deployment pipeline moves ``champion`` (gates on fresh data, canary, history): re-running an old
    training run never changes production.
    """
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry

    client = MlflowClient(ctx.tracking_uri)
    name = ctx.config.model_name
    lineage = _lineage(ctx, loaded)
    tags = {**{k: lineage[k] for k in VERSION_TAGS}, "holdout_auc": f"{evaluation['metrics']['auc']:.6f}",
            "promotion.reason": evaluation["decision"]["reason"]}
    version = registry.register_once(client, name, trained["mlflow_run_id"], trained["model_uri"], tags)
    registry.describe_model(client, name, ctx.config.description)
    client.set_registered_model_alias(name, registry.CHALLENGER, version.version)
    return {"model_name": name, "version": version.version, "aliases": [registry.CHALLENGER],
            "model_uri": f"models:/{name}/{version.version}"}


def summarize_run(ctx: RunContext, loaded: Snapshot, trained: TrainedModel, evaluation: Evaluation,
                  registered: RegisteredVersion) -> RunSummary:
    """One dict that says what this run did, for notifications and the demo."""
    return {"model_name": ctx.config.model_name, "dag_id": ctx.dag_id, "run_id": ctx.run_id,
            "rows": loaded["rows"], "partitions": loaded["partitions"], "snapshot_uri": loaded["snapshot_uri"],
            "data_hash": loaded["data_hash"], "mlflow_run_id": trained["mlflow_run_id"],
            "metrics": evaluation["metrics"], "decision": evaluation["decision"], **registered}


def _champion_auc(ctx: RunContext, client, x, y) -> dict | None:
    """The champion's AUC on this run's holdout (``score_champion``), or None without a champion.

    ``client`` is the step's ``MlflowClient``.
    """
    from ml_pipeline.evaluation.champion import score_champion
    from ml_pipeline.registry import mlflow_registry as registry

    name = ctx.config.model_name
    champion = registry.alias_version(client, name, registry.CHAMPION)
    if champion is None:
        return None
    return score_champion(champion, lambda: registry.load_model(
        ctx.tracking_uri, f"models:/{name}/{champion.version}").predict_proba(x)[:, 1], y)


def _validation_reports(ctx: RunContext) -> dict[str, str]:
    """The run's validation reports (JSON and Markdown, per partition) as MLflow artifact path → text."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(ctx.artifact_uri("validation"))
    if not fs.exists(root):
        return {}
    return {f"validation/{path[len(root):].lstrip('/')}": fs.cat_file(path).decode()
            for path in sorted(fs.find(root)) if path.endswith((".json", ".md"))}


def _config_texts(ctx: RunContext) -> dict[str, str]:
    """The config file as the run read it and the validation rules as they were resolved, by artifact path."""
    import yaml

    from ml_pipeline.config import ModelConfig
    from ml_pipeline.errors import TransientError
    from ml_pipeline.validation.model_rules import rules_for_model

    text = ctx.config_path.read_text()
    if ModelConfig.model_validate(yaml.safe_load(text)).content_hash() != ctx.config.content_hash():
        raise TransientError(f"{ctx.config_path} changed while the run was training: retry to record the config "
                             "the model is trained with")
    rules = rules_for_model(ctx.config, ctx.config_path).model_dump(mode="json")
    return {CONFIG_ARTIFACT: text, RULES_ARTIFACT: yaml.safe_dump(rules, sort_keys=True)}


def _lineage(ctx: RunContext, loaded: Snapshot) -> dict[str, str]:
    return lineage_tags(partitions=loaded["partitions"], data_hash=loaded["data_hash"],
                        snapshot_uri=loaded["snapshot_uri"], config_hash=ctx.config.content_hash(),
                        config_path=str(ctx.config_path), dag_id=ctx.dag_id, run_id=ctx.run_id,
                        model_type=ctx.config.model_type, trigger=ctx.trigger)


def pip_requirements(estimator: Estimator) -> list[str]:
    """What the model's MLflow environment installs: the serving stack and the estimator's library, as installed."""
    names = ("mlflow", "scikit-learn", "pandas", "numpy")
    return [f"{n}=={importlib.metadata.version(n)}" for n in names] + estimator.pip_requirements()


def train_threads() -> int:
    """The threads a model trains with (``ML_TRAIN_THREADS``, default 2): its ``n_jobs``, kept in its record."""
    return int(os.environ.get("ML_TRAIN_THREADS", "2"))
