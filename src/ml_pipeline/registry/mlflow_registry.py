"""MLflow adapter: log runs, register versions once, move aliases.

Promotion uses aliases (``champion``/``challenger``) and tags, never the
deprecated stages. Every write is idempotent, keyed by tags, so re-running an
Airflow task never creates a duplicate run or model version.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

# MLflow's usage telemetry blocks on an unreachable network for tens of seconds per process.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import mlflow
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from ml_pipeline.errors import PermanentError
from ml_pipeline.estimators.registry import DEFAULT_MODEL_TYPE, get_estimator
from ml_pipeline.registry.answers import none_if_not_found


def _load_request_headers_without_feast() -> None:
    """Load MLflow's request-header providers, all but Feast's.

    Feast registers one; MLflow loads every provider at its first REST call, and loading Feast's imports all of
    Feast: 5–10 s of CPU in every task that talks to MLflow, measured on two cores. It would also send a
    Kubernetes service-account token, when there is one, with each of our calls. We never use Feast's MLflow data
    sources. Must run before the first REST call; does nothing if MLflow has loaded them already.
    """
    import sys

    name = "mlflow.tracking.request_header.registry"
    if name in sys.modules:
        return
    from mlflow.utils import plugins

    original = plugins.get_entry_points

    def without_feast(group: str) -> list:
        return [e for e in original(group) if not (group == "mlflow.request_header_provider"
                                                   and e.value.split(".")[0] == "feast")]

    plugins.get_entry_points = without_feast
    try:
        __import__(name)
    finally:
        plugins.get_entry_points = original


_load_request_headers_without_feast()


def _import_skops_quietly() -> None:
    """Import skops (MLflow saves and loads our models with it) with warnings ignored.

    At import skops looks each of scipy's ufuncs up in every loaded module; in an Airflow task each lookup on one
    of Airflow's deprecated-alias modules emits a warning that is formatted and logged: ~16 s per training task,
    measured on two cores.
    """
    import sys
    import warnings

    if "skops.io" in sys.modules:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import skops.io  # noqa: F401


def warm_up() -> None:
    """Do once, in a process that tasks fork from, what logging or loading a model would do in each of them.

    That is: import skops (quietly), and build MLflow's map of installed distributions (it reads the metadata of
    every one, ~300 here, to check a logged model's pip requirements: seconds of CPU per training otherwise).
    """
    _import_skops_quietly()
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception as exc:  # noqa: BLE001 - an MLflow release without this helper: each task builds it itself
        logging.getLogger(__name__).warning("could not prepare MLflow's requirement checks: %s", exc)


CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS_CHAMPION = "previous_champion"
MODEL_URI_TAG = "ml.model_uri"
MODEL_TYPE_TAG = "ml.model_type"
# The key of the MLmodel file's metadata naming the model's estimator: loading trusts that estimator's types only.
MODEL_TYPE_KEY = "model_type"


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of experiment ``name``, created on first use."""
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def find_finished_run(client: MlflowClient, experiment: str, run_key: str) -> tuple[str, str] | None:
    """(run_id, model_uri) of a finished run already logged under ``run_key``, if any."""
    runs = client.search_runs([experiment], f"tags.`ml.run_key` = '{run_key}' and attributes.status = 'FINISHED'",
                              max_results=1, order_by=["attributes.start_time DESC"])
    return (runs[0].info.run_id, runs[0].data.tags[MODEL_URI_TAG]) if runs else None


def log_training_run(tracking_uri: str, experiment: str, run_key: str, tags: Mapping[str, str],
                     params: Mapping[str, Any], model: Any, input_example: Any,
                     pip_requirements: list[str], model_type: str = DEFAULT_MODEL_TYPE,
                     inside_run: Callable[[str], None] | None = None) -> tuple[str, str]:
    """Log params, tags and the sklearn model of estimator ``model_type`` in a new run; return (run_id, model_uri).

    The model is saved with skops, which refuses on save, as on load, any type its estimator does not trust; the
    MLmodel file records ``model_type`` so that a loader knows which types to trust. ``inside_run`` is called with
    the run id while the run is active (the lineage: datasets and artifacts), so a run that finishes has them.
    """
    estimator = get_estimator(model_type)
    _import_skops_quietly()
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(tags={**tags, "ml.run_key": run_key, MODEL_TYPE_TAG: model_type}) as run:
        mlflow.log_params(params)
        signature = mlflow.models.infer_signature(input_example, model.predict_proba(input_example)[:, 1])
        info = mlflow.sklearn.log_model(model, name="model", signature=signature,
                                        input_example=input_example, pip_requirements=pip_requirements,
                                        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                                        skops_trusted_types=list(estimator.trusted_types),
                                        metadata={MODEL_TYPE_KEY: model_type}, model_type=model_type)
        if inside_run is not None:
            inside_run(run.info.run_id)
        mlflow.set_tag(MODEL_URI_TAG, info.model_uri)
    return run.info.run_id, info.model_uri


def logged_model_type(metadata: Mapping[str, Any] | None) -> str:
    """The ``model_type`` an MLmodel file's metadata names.

    A model logged before types were recorded has the default one (the only type there was).
    """
    return str((metadata or {}).get(MODEL_TYPE_KEY, DEFAULT_MODEL_TYPE))


def load_model(tracking_uri: str, model_uri: str) -> Any:
    """Load a logged sklearn model over the tracking server, trusting only the types of its estimator.

    skops loads the model with the trusted types of the estimator its MLmodel file names, not with the list the
    file itself carries (whoever wrote the artifact wrote that list).

    Raises:
        UnknownModelTypeError: The model names an estimator that is not registered here.
        PermanentError: The model was not saved with skops (pickle formats run code on load: refused).
    """
    import tempfile

    from mlflow.models import Model

    mlflow.set_tracking_uri(tracking_uri)
    _import_skops_quietly()
    import skops.io

    with tempfile.TemporaryDirectory(prefix="model-") as folder:
        local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=folder,
                                                    tracking_uri=tracking_uri)
        logged = Model.load(local)
        flavor = logged.flavors.get("sklearn", {})
        if flavor.get("serialization_format") != mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS:
            raise PermanentError(f"{model_uri} is not a scikit-learn model saved with skops "
                                 f"({flavor.get('serialization_format', 'no sklearn flavor')}): not loaded")
        estimator = get_estimator(logged_model_type(logged.metadata))
        return skops.io.load(os.path.join(local, flavor["pickled_model"]), trusted=list(estimator.trusted_types))


def alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    """The version carrying ``alias``, or None when the model or alias does not exist.

    MLflow's basic-auth app answers 403 to anyone but an admin asking for an alias of a model that does not exist:
    a 403 is read as "no such model" only when the model itself is not found.

    Raises:
        TransientError: MLflow is unreachable or failing: "no answer" is never read as "no alias".
        MlflowException: permission denied on a model that exists.
    """
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        return none_if_not_found(exc, client, name)


def registered_model(client: MlflowClient, name: str) -> Any | None:
    """The registered model ``name``, or None when this registry does not know it.

    Raises:
        TransientError: MLflow is unreachable or failing.
    """
    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        return none_if_not_found(exc)


def model_version(client: MlflowClient, name: str, version: str) -> ModelVersion | None:
    """Version ``version`` of model ``name``, or None when it does not exist (or its model does not).

    Raises:
        TransientError: MLflow is unreachable or failing.
    """
    try:
        return client.get_model_version(name, str(version))
    except MlflowException as exc:
        return none_if_not_found(exc, client, name)


def versions_tagged(client: MlflowClient, name: str, tags: Mapping[str, str]) -> list[ModelVersion]:
    """The versions of ``name`` that carry every one of ``tags``, newest first (none when the model does not exist).

    Raises:
        TransientError: MLflow is unreachable or failing.
    """
    clauses = [f"name = '{name}'", *(f"tags.`{key}` = '{value}'" for key, value in tags.items())]
    try:
        found = client.search_model_versions(" and ".join(clauses))
    except MlflowException as exc:
        return none_if_not_found(exc) or []
    return sorted(found, key=lambda v: int(v.version), reverse=True)


def register_once(client: MlflowClient, name: str, run_id: str, model_uri: str,
                  tags: Mapping[str, str]) -> ModelVersion:
    """Register the run's model as a version of ``name`` unless that run already has one."""
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    existing = client.search_model_versions(f"name = '{name}' and run_id = '{run_id}'")
    if existing:
        return existing[0]
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    return client.create_model_version(name, model_uri, run_id=run_id, tags=dict(tags),
                                       await_creation_for=60, model_id=model_id)


def best_run(client: MlflowClient, experiment: str, metric: str, maximize: bool = True) -> Any | None:
    """The finished run of experiment ``experiment`` (a name) with the best ``metric``, or None."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return None
    order = f"metrics.`{metric}` {'DESC' if maximize else 'ASC'}"
    runs = client.search_runs([found.experiment_id], f"attributes.status = 'FINISHED' and metrics.`{metric}` > -1e308",
                              max_results=1, order_by=[order])
    return runs[0] if runs else None


def promote(client: MlflowClient, name: str, version: str, alias: str = CHAMPION,
            previous_alias: str | None = PREVIOUS_CHAMPION) -> dict[str, str | None]:
    """Point ``alias`` at ``version``; the version it pointed at before keeps ``previous_alias``."""
    before = alias_version(client, name, alias)
    if previous_alias and before is not None and before.version != str(version):
        client.set_registered_model_alias(name, previous_alias, before.version)
    client.set_registered_model_alias(name, alias, str(version))
    return {"model": name, "alias": alias, "version": str(version),
            "previous": before.version if before is not None else None}


def describe_model(client: MlflowClient, name: str, description: str) -> None:
    """Give the registered model its config's description (MLflow's model page shows it), when it differs."""
    if description and client.get_registered_model(name).description != description:
        client.update_registered_model(name, description=description)


def version_lineage(client: MlflowClient, name: str, version_or_alias: str) -> dict[str, str]:
    """The lineage tags (data snapshot and hash, code commit, trigger, run) of a version, by number or alias."""
    version = (client.get_model_version(name, version_or_alias) if str(version_or_alias).isdigit()
               else client.get_model_version_by_alias(name, version_or_alias))
    tags = {k: v for k, v in version.tags.items() if k.startswith("lineage.")}
    return {"model": name, "version": version.version, "run_id": version.run_id, **tags}
