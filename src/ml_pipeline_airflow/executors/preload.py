"""Import the task stack once, in the process the task processes fork from.

Both executors run a task in a process forked from a long-lived one (the LocalExecutor's workers, forked from the
scheduler; a Celery worker's pool, forked from its master). What that process imported before forking, every task
gets for free: Airflow's task runner, our DAG factory, and the ML libraries (MLflow, scikit-learn, every registered
estimator's library, polars, pandera, Feast, skops), which otherwise cost seconds of CPU per task — on a busy
machine the largest part of a short task's wall time (docs/DESIGN.md, "Scheduling at scale"). What Airflow's task
runner and supervisor would set up again in every task (plugins and listeners, TLS, message decoders, a first DAG
build, the ORM's mappers) is set up here once too, the supervisor's needless first heartbeat is skipped, and a
task's logging set-up clears the loggers' caches once rather than once per logger.
``ML_PLATFORM_PRELOAD=0`` turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import time
from collections.abc import Callable

from ml_pipeline.estimators.registry import preload_modules

log = logging.getLogger(__name__)

REGISTRY = "ml_pipeline.registry.mlflow_registry"
# In import order: Airflow's task runner first (every task), then what the DAG files and the ML tasks import.
PRELOADED_MODULES = (
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.execution_time.supervisor",
    # what every task's runner imports lazily: its DAG bundle, the template environment's extensions, asset metadata
    # (each imported anew in every task process otherwise: about 5 % of a trivial task's CPU)
    "airflow.dag_processing.bundles.local",
    "jinja2.ext",
    "airflow.sdk.definitions.asset.metadata",
    "ml_pipeline_airflow.dag_kinds",
    "ml_pipeline_airflow.drills",
    # the OpenLineage listener every task loads with Airflow's plugins: about 1 s of CPU to import (2-core machine)
    "airflow.providers.openlineage.plugins.openlineage",
    "airflow.providers.openlineage.plugins.listener",
    "openlineage.client.transport.file",
    # what building the DAGs imports lazily: every task parses its DAG file
    "airflow.providers.slack.notifications.slack_webhook",
    "airflow.providers.smtp.notifications.smtp",
    "ml_pipeline.features.registry",
    "polars",
    "pyarrow.parquet",
    "pandas",
    "sklearn.pipeline",
    *preload_modules(),  # each registered estimator's library (estimators/registry.py)
    "mlflow",
    "mlflow.sklearn",
    "mlflow.pyfunc",
    # loads MLflow's request-header plugins without Feast's, and imports skops quietly (its import scans every
    # loaded module for scipy ufuncs: seconds, once per process here, not once per training)
    REGISTRY,
    "feast",  # the feature steps use it: seconds of CPU to import
    "pandera.polars",
    "ml_pipeline.pipelines.training",
    "ml_pipeline.pipelines.deployment",
    # what the steps import on first use (each task process is a first use): a fresh fork of a preloaded parent ran
    # each step of the fraud pipeline and listed the modules it imported (2026-12-04: 125 in ``train_model``)
    "ml_pipeline_airflow.hooks.mlflow",
    "ml_pipeline_airflow.hooks.feature_store",
    "ml_pipeline_airflow.lineage.emit",
    "ml_pipeline.validation.partition",
    "ml_pipeline.validation.model_rules",
    "ml_pipeline.lineage.events",
    "ml_pipeline.pipelines.validation",
    "ml_pipeline.training.trainer",
    "ml_pipeline.registry.mlflow_lineage",
    "pandera.backends.polars.container",
    "pandera.backends.polars.builtin_checks",
    "pandera.backends.polars.components",
    "pandera.backends.register_checks",
    "pandera.strategies",
    "polars._utils.parquet",
    "fsspec.implementations.chained",
    "fsspec.parquet",
    "git",  # MLflow's run context reads the commit with GitPython
    "mlflow.tracing.processor.otel",
    "mlflow.tracing.export.utils",
    "mlflow.tracing.processor.base_mlflow",
    "mlflow.pyfunc.utils.environment",
    "mlflow.pyfunc.scoring_server",
    "mlflow.models.display_utils",
    "narwhals._pandas_like.namespace",
    "narwhals.stable.v2._namespace",
    "narwhals._interchange.dataframe",
    "pandas.core.methods.to_dict",
    "encodings.cp437",  # zip files: the model's artifacts
    "feast.infra.passthrough_provider",  # materializing into the online store (write_to_feature_store)
    "feast.infra.offline_stores.dask",
    "feast.infra.online_stores.sqlite",
    "feast.infra.compute_engines.local.compute",
    "feast.infra.registry.file",
    "feast.repo_operations",
)


def enabled() -> bool:
    return os.environ.get("ML_PLATFORM_PRELOAD", "1") != "0"


def preload(modules: tuple[str, ...] = PRELOADED_MODULES) -> list[str]:
    """Import ``modules``; return those that failed (a missing optional library must not stop a worker)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - reported, and the task imports it again (and fails there)
            log.warning("preloading %s failed: %s", name, exc)
            failed.append(name)
    if REGISTRY in modules and REGISTRY not in failed:  # and what the registry does on first use in each task
        importlib.import_module(REGISTRY).warm_up()
    if "airflow.sdk.execution_time.supervisor" in modules and "airflow.sdk.execution_time.supervisor" not in failed:
        guarded(api_client_tls)
    if "airflow.sdk.execution_time.task_runner" in modules and "airflow.sdk.execution_time.task_runner" not in failed:
        for set_up in (task_listeners, asset_uri_handlers, reuse_message_decoders, dag_building, heartbeat_after_start,
                       logging_caches_cleared_once):
            guarded(set_up)
    guarded(orm_mappers)
    return failed


def guarded(set_up: Callable[[], None]) -> None:
    """Run one of the set-ups below, logging a failure instead of raising it.

    A failure (an Airflow release that changed what it touches) leaves each task to do that work itself, as Airflow
    does.
    """
    try:
        set_up()
    except Exception as exc:  # noqa: BLE001 - logged; the tasks run as they would without it
        log.warning("%s before forking failed: %s", set_up.__name__, exc)


def api_client_tls() -> None:
    """Build the Task SDK client's TLS context once, here, rather than in each forked worker.

    Every task's supervisor talks to the Task Execution API through ``airflow.sdk.api.client.Client``, whose TLS
    context (the system's CA store, loaded whether the URL is https or not) is cached per process: ~45 ms of CPU in
    each of the 32 LocalExecutor workers or Celery pool processes on their first task, all in the first burst.
    """
    from airflow.sdk.api import client

    client.Client._get_ssl_context_cached(client.API_SSL_CA_FILE_PATH, client.API_SSL_CERT_PATH)


def task_listeners() -> None:
    """Load Airflow's plugins and their task listeners once, here, and the OpenLineage listener's client.

    Each task's runner asks for its listeners as it starts (``get_listener_manager``, cached per process): Airflow
    then reads every installed distribution's metadata for plugin entry points and imports the plugins folder, and
    the OpenLineage listener builds its client on the first event; about a tenth of a trivial task's CPU (py-spy, a
    burst of 50 runs). Forked after this, a task finds all three ready.
    """
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager()
    from airflow.providers.openlineage.plugins.listener import get_openlineage_listener

    get_openlineage_listener().adapter.get_or_create_openlineage_client()


def asset_uri_handlers() -> None:
    """Discover the providers' asset URI handlers once, here, rather than in each task process.

    The first ``Asset`` a process builds with a scheme other than ``file`` asks the Task SDK's providers manager for
    the URI normalizers, which imports every provider's asset module (about a dozen): 60 ms of CPU in each task of a
    DAG with a feature or model asset, parsing its DAG file (75 → 14 ms, a forked child of a preloaded parent).
    """
    from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

    ProvidersManagerTaskRuntime().initialize_providers_asset_uri_resources()


def reuse_message_decoders() -> None:
    """Build the Task SDK's message decoders once, here, and let every task process reuse them.

    A task process builds pydantic ``TypeAdapter``s anew for the same few types: two of the union of every message its
    supervisor can send (``CommsDecoder``), one for its start-up message and one per template field as it stores its
    rendered fields (four for a ``@task``). In a fresh fork each costs milliseconds (schema building, and the parent's
    pages copied on write as it walks them); the same adapter, built here, is shared by every fork. Only the Task
    SDK's two modules that build them per task see the cache; an adapter is immutable once built.
    """
    from airflow.sdk.execution_time import comms, task_runner
    from pydantic import JsonValue, TypeAdapter

    built: dict[int, tuple[object, TypeAdapter]] = {}

    def reused(type_: object, *args: object, **kwargs: object) -> TypeAdapter:
        if args or kwargs:  # a configured adapter: built as asked
            return TypeAdapter(type_, *args, **kwargs)
        if (hit := built.get(id(type_))) is None or hit[0] is not type_:
            hit = built[id(type_)] = (type_, TypeAdapter(type_))
        return hit[1]

    for type_ in (comms.ToTask, JsonValue, task_runner.StartupDetails):
        reused(type_)
    comms.TypeAdapter = task_runner.TypeAdapter = reused


def dag_building() -> None:
    """Build a throwaway ``@task`` DAG once, here, so each task's parse of its own DAG file starts warm.

    Building a DAG asks abstract base classes about the same few types (every first answer walks their registries,
    then is cached per process) and inspects each task's signature: done here first, every fork finds the answers.
    The DAG is never registered: it is built outside a ``with DAG(...)`` block and dropped.
    """
    from airflow.sdk import DAG, task

    @task
    def noop() -> None:
        """Nothing."""

    dag = DAG("ml_platform_preload_warm_up", schedule=None)
    noop.override(task_id="first", dag=dag)() >> noop.override(task_id="second", dag=dag)()


def heartbeat_after_start() -> None:
    """Let each task's supervisor send its first heartbeat one interval after the task starts, not at once.

    The supervisor tells the API server a task started (``start``, which records its pid and counts as its first
    heartbeat) and then, on its first look at the task, heartbeats again because its last heartbeat *attempt* is
    still zero: one Task Execution API call, and one database write, per task for nothing. Every later heartbeat
    comes as before, ``[workers] min_heartbeat_interval`` apart, so a hung task is found as soon as it was.
    """
    from airflow.sdk.execution_time.supervisor import ActivitySubprocess

    started = ActivitySubprocess._on_child_started
    if getattr(started, "__wrapped_by_ml_platform__", False):
        return

    def _on_child_started(self: ActivitySubprocess, *args: object, **kwargs: object) -> None:
        started(self, *args, **kwargs)
        self._last_heartbeat_attempt = time.monotonic()

    _on_child_started.__wrapped_by_ml_platform__ = True  # type: ignore[attr-defined]
    ActivitySubprocess._on_child_started = _on_child_started  # type: ignore[method-assign]


def logging_caches_cleared_once() -> None:
    """Let a task process's logging set-up clear the loggers' level caches once, at its end, not once per logger.

    Each task process configures logging after its fork (``logging.config.dictConfig``), which resets every child
    logger of a configured one with ``Logger.setLevel``, and every ``setLevel`` clears the cache of every logger in
    the process: with the ~620 loggers of the preloaded stack, 10 of the set-up's 15 ms of CPU in each task (9.5 ms
    in all without preloading; py-spy of a burst, then forks timed alone). The levels set are the same.
    """
    import logging.config

    configure = logging.config.DictConfigurator.configure
    if getattr(configure, "__wrapped_by_ml_platform__", False):
        return

    def configure_then_clear(self: logging.config.DictConfigurator) -> None:
        manager = logging.Logger.manager
        manager._clear_cache = lambda: None  # type: ignore[method-assign]  (cleared once, below)
        try:
            configure(self)
        finally:  # another thread's set-up in between finds the method back, or clears once more: the same levels
            vars(manager).pop("_clear_cache", None)
            type(manager)._clear_cache(manager)

    configure_then_clear.__wrapped_by_ml_platform__ = True  # type: ignore[attr-defined]
    logging.config.DictConfigurator.configure = configure_then_clear  # type: ignore[method-assign]


def orm_mappers() -> None:
    """Configure SQLAlchemy's mappers once, here, before the fork.

    A Celery pool process first queries the ORM when it stores its first task's STARTED state in the result
    backend, before the task runs; that first query configures every mapper of the process, Airflow's models
    imported first: 0.12 s of CPU in each of the 32 pool processes, all in the first burst (0.013 s when the master
    configured them before forking). The LocalExecutor's scheduler configured them long before its workers forked.
    """
    from sqlalchemy.orm import configure_mappers

    configure_mappers()


def preload_task_stack() -> bool:
    """What an executor calls before it forks: the stack preloaded (unless turned off), and a log line saying so.

    Returns whether it preloaded.
    """
    if not enabled():
        return False
    started = time.monotonic()
    failed = preload()
    log.info("preloaded the task stack in %.1fs (%d modules, %d failed)", time.monotonic() - started,
             len(PRELOADED_MODULES), len(failed))
    return True
