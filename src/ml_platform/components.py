"""The platform's components: their command lines and the environment they share.

Sizing (docs/DESIGN.md, "Scheduling at scale", measured by `make bench-scale`): 32 task processes at once, Airflow's
default (tasks are forked from a process that has imported their stack, so a light task costs little; the heavy
step, training, is bounded by its pools), two API-server workers (one timed out Task Execution API calls under 50
concurrent runs), one MLflow worker pair.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml_pipeline.config import ModelConfig
from ml_pipeline.deployment.client import serving_argv
from ml_pipeline.training.resources import detect_gpus
from ml_pipeline_airflow.executors.priority import TASK_NICE_ENV, task_nice
from ml_pipeline_airflow.pools import GPU_POOL, TRAINING_POOL, platform_gpus
from ml_platform import database, mlflow_auth
from ml_platform.layout import REPO_ROOT, Layout, model_configs
from ml_platform.lineage_shipper import DATABASE_URL_ENV as LINEAGE_DATABASE_URL_ENV
from ml_platform.lineage_transport import openlineage_env
from ml_platform.metrics import prometheus
from ml_platform.metrics.exporter import airflow_statsd_env, exporter_argv
from ml_platform.process_env import BASIC, MLFLOW_SERVER, MODEL_SERVER, only
from ml_platform.recorded_settings import number_setting
from ml_platform.secrets import SERVING_ADMIN_TOKEN, read_secret

BIN = Path(sys.executable).parent
# Task processes at once on one machine: the LocalExecutor's workers (a Celery worker gets 1.5 times as many).
PARALLELISM = number_setting("ML_PLATFORM_PARALLELISM", 32)
API_WORKERS = number_setting("ML_PLATFORM_API_WORKERS", 2)
EMBEDDED_DATABASE = "postgres"
SERVING_PREFIX = "serving-"  # component name of an endpoint's model server: serving-<endpoint>
LOCAL_EXECUTOR = "ml_pipeline_airflow.executors.local_executor.PreloadingLocalExecutor"
EXECUTOR = os.environ.get("ML_PLATFORM_EXECUTOR", "local")  # celery (make up-celery): Redis broker, workers here
CELERY_WORKERS = number_setting("ML_PLATFORM_CELERY_WORKERS", 1)
# Each Celery worker's pool: half again the LocalExecutor's workers (a pool process stays busy after its task)
CELERY_CONCURRENCY = number_setting("ML_PLATFORM_CELERY_CONCURRENCY", PARALLELISM * 3 // 2)
REDIS_URL = os.environ.get("ML_PLATFORM_REDIS_URL", "redis://127.0.0.1:6379/0")
CELERY_WORKER_PREFIX = "celery-worker-"  # component name of Celery worker N: celery-worker-<N>
# The pools that bound training (DESIGN.md): `gpu`, one slot per GPU (gpus()), and `training` for CPU jobs (one)
TRAINING_SLOTS = number_setting("ML_PLATFORM_TRAINING_SLOTS", 1)


# Scheduler settings for 50+ concurrent runs (DESIGN.md, "Scheduling at scale"); the environment overrides each.
SCHEDULER_TUNING = {
    # a started run's next task goes before other runs' first tasks (Airflow: "downstream", every run's first task
    # before any second one): 100 runs at once, hand-off p95 14.5 → 7.5 s, median run 30.6 → 21.3 s
    "AIRFLOW__CORE__DEFAULT_TASK_WEIGHT_RULE": "upstream",
    # every active run is looked at in each loop (Airflow: 20), a finished task's downstream in the next loop
    "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "64",
    # up to 64 scheduled task instances are queued per loop (Airflow: 16)
    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "64",
    # an idle loop sleeps 0.25 s (Airflow: 1 s) before looking again
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25",
    # DAG files re-parsed every 60 s (Airflow: 30 s): CPU the tasks need; a new config still appears within a minute
    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
    # a task's calls to the Task Execution API wait up to 15 s (Airflow: 5 s) before retrying: when many tasks
    # start at once on a small machine, 5 s timed out five times in a row and failed the task before it ran
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "15",
    # a killed scheduler's running tasks are adopted or reset by the next one at its orphan check: every 30 s
    # (Airflow: 300 s, so the runs stood still five minutes; `make chaos`, scheduler_killed)
    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "30",
}
# The LocalExecutor's scheduler sleeps 0.1 s after an idle loop while a task runs, 0.25 s in all while none does
# (executors/local_executor.py; `make bench`: gap between two tasks 0.20 → 0.09 s). Celery keeps SCHEDULER_TUNING's.
LOCAL_EXECUTOR_TUNING = {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1"}


def gpus() -> int:
    """The platform's GPUs: ``ML_PLATFORM_GPUS``, else this machine's (``nvidia-smi -L``, asked by ``up`` only)."""
    return platform_gpus() if "ML_PLATFORM_GPUS" in os.environ else detect_gpus()


@dataclass(frozen=True)
class Component:
    """One long-running process under supervision.

    Its command line never holds a secret (any user can read it in ``/proc``): credentials come in ``env``.
    ``inherits`` names what it takes of the platform's environment (``process_env.only``); None takes all of it.
    """

    name: str
    argv: list[str]
    user: str | None = None
    stop_signal: str = "SIGTERM"
    env: dict[str, str] = field(default_factory=dict)
    inherits: tuple[str, ...] | None = None

    def environment(self, platform: dict[str, str]) -> dict[str, str]:
        """What the process is started with: the platform's environment (or the part it inherits), then its own."""
        return {**(platform if self.inherits is None else only(platform, self.inherits)), **self.env}


def platform_env(layout: Layout, secrets: dict[str, str]) -> dict[str, str]:
    """Environment of every component and task: where things are, never what to do."""
    env = {
        "AIRFLOW_HOME": str(layout.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "airflow" / "dags"),
        # Airflow's LocalExecutor, importing the task stack before it forks its workers (docs/DESIGN.md)
        "AIRFLOW__CORE__EXECUTOR": LOCAL_EXECUTOR,
        "AIRFLOW__CORE__PARALLELISM": str(PARALLELISM),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        # a run's conf reaches its tasks' params (Airflow's default, pinned: False would deploy on `action: rollback`)
        "AIRFLOW__CORE__DAG_RUN_CONF_OVERRIDES_PARAMS": "True",
        # an enabled model's DAGs follow it (`enabled:` in docs/DAG_REFERENCE.md): a model added as a file runs on its
        # schedules from the start; True makes every new DAG wait for someone to unpause it
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": os.environ.get("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION",
                                                                     "False"),
        "AIRFLOW__CORE__FERNET_KEY": secrets["fernet_key"],
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{layout.airflow_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{secrets['admin_user']}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(layout.passwords_file),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": database.database_url(layout, "airflow"),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(layout.airflow_port),
        "AIRFLOW__API__BASE_URL": layout.airflow_url,
        "AIRFLOW__API__WORKERS": str(API_WORKERS),
        "AIRFLOW__API__SECRET_KEY": secrets["api_secret_key"],
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets["jwt_secret"],
        "AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR": "True",
        # A worker that dies (SIGKILL, OOM) stops heartbeating; the default waits 300 s before declaring its task
        # lost. 30 s (6 missed 5-s heartbeats), checked every 5 s, retries or alerts within about half a minute.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": os.environ.get(
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "30"),
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
        "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
        # MLflow's users `pipelines` (the tasks) and `serving` (the canary's staging server): ml_platform.mlflow_auth
        **mlflow_auth.airflow_env(layout.mlflow_port, secrets),
        # monitoring_ml_pipelines reads runs and task instances through the REST API (tasks have no metadata-database
        # access in Airflow 3); production names a read-only service account here instead of the admin
        "AIRFLOW_CONN_AIRFLOW_API": os.environ.get("AIRFLOW_CONN_AIRFLOW_API", json.dumps(
            {"conn_type": "http", "host": "127.0.0.1", "port": layout.airflow_port, "schema": "http",
             "login": secrets["admin_user"], "password": secrets["admin_password"]})),
        # Alerts go to the local sinks in the embedded default; production points these at Slack and its mail server.
        "AIRFLOW_CONN_SLACK_ALERTS": os.environ.get("AIRFLOW_CONN_SLACK_ALERTS", json.dumps(
            {"conn_type": "slackwebhook",
             "password": f"http://127.0.0.1:{layout.slack_sink_port}/services/T000LOCAL/B000LOCAL/local"})),
        # Pages go to the local sink's Events API v2 (a model pages once its `alerts.pagerduty_connection` names this);
        # production unsets the host (PagerDuty's US endpoint) and sets its integration's 32-character routing key
        "AIRFLOW_CONN_PAGERDUTY_DEFAULT": os.environ.get("AIRFLOW_CONN_PAGERDUTY_DEFAULT", json.dumps(
            {"conn_type": "pagerduty_events", "host": f"http://127.0.0.1:{layout.slack_sink_port}",
             "password": "0123456789abcdef0123456789abcdef"})),
        "AIRFLOW_CONN_SMTP_DEFAULT": os.environ.get("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps(
            {"conn_type": "smtp", "host": "127.0.0.1", "port": layout.smtp_sink_port,
             "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "ml-platform@localhost",
                       "timeout": 10, "retry_limit": 2}})),
        # The dead-letter queue's database (`ml_platform`) on the platform's PostgreSQL, and where entries wait
        # when that database is unreachable (moved in by the next failure or `ml-pipeline dlq list`).
        "ML_PLATFORM_DLQ_SPOOL": str(layout.dlq_spool),
        "AIRFLOW_CONN_ML_PLATFORM_DB": database.airflow_connection(layout, database.PLATFORM_DATABASE),
        **layout.data_env(),  # ML_LAKE_URI, and ML_DATA_URI_MAP (the spec's bucket in the local lake by default)
        "ML_PLATFORM_GPUS": str(gpus()),  # DAG files read it: `training.device: auto` takes the gpu pool when > 0
        TASK_NICE_ENV: str(task_nice()),  # task workers' CPU priority (executors/priority.py), checked at `up`
        # The servers' /admin token (inherited); serving_default carries the same secret, never a shell's token.
        "ML_SERVING_ADMIN_TOKEN": secrets[SERVING_ADMIN_TOKEN],
        # The feature store (Feast): offline files, file registry and SQLite online store under the lake; production
        # sets a SQL registry on PostgreSQL and a Redis online store in this connection's extras (docs/DESIGN.md).
        "AIRFLOW_CONN_FEATURE_STORE_DEFAULT": os.environ.get("AIRFLOW_CONN_FEATURE_STORE_DEFAULT", json.dumps(
            {"conn_type": "generic", "extra": {"root": f"{layout.lake.as_uri()}/feature_store"}})),
        "ML_PIPELINE_CODE_DIR": str(REPO_ROOT),
        "MLFLOW_TRACKING_URI": layout.mlflow_url,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    # Where each model endpoint answers and their /admin token: the `serving_default` connection, which the
    # supervisor keeps in Airflow's metadata database as models come and go (ml_platform.serving_connection). A
    # connection set here instead (production: its load balancer's URLs) wins over it, and is never changed.
    if "AIRFLOW_CONN_SERVING_DEFAULT" in os.environ:
        env["AIRFLOW_CONN_SERVING_DEFAULT"] = os.environ["AIRFLOW_CONN_SERVING_DEFAULT"]
    env.update({name: os.environ.get(name, value) for name, value in SCHEDULER_TUNING.items()})
    # Airflow's StatsD to the metrics exporter (docs/DESIGN.md, "Metrics and Prometheus")
    env.update({name: os.environ.get(name, value) for name, value in airflow_statsd_env(layout.statsd_port).items()})
    # OpenLineage: every task's events to <home>/lineage/events.jsonl, which the lineage shipper stores
    env.update(openlineage_env(layout, secrets["lineage_token"]))
    env.update(celery_env(layout) if EXECUTOR == "celery" else {
        name: os.environ.get(name, value) for name, value in LOCAL_EXECUTOR_TUNING.items()})
    return env


def celery_env(layout: Layout) -> dict[str, str]:
    """CeleryExecutor: Redis as broker, task states in the metadata database unless the environment names another."""
    airflow_db = database.database_url(layout, "airflow")  # Redis measured the same: DESIGN.md, "Against bare Airflow"
    return {"AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            # The scheduler learns that a Celery task ended only when it reads the result backend; with parallelism
            # equal to the workers' slots, a slot stood empty until then (hand-off → queued p95 8.6 s; with twice
            # the slots 1.6 s: a freed worker process takes the next task waiting in the broker at once).
            "AIRFLOW__CORE__PARALLELISM": str(2 * CELERY_WORKERS * CELERY_CONCURRENCY),
            "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
            "AIRFLOW__CELERY__RESULT_BACKEND": os.environ.get("AIRFLOW__CELERY__RESULT_BACKEND", f"db+{airflow_db}"),
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_CONCURRENCY),
            # Airflow's Celery settings, plus workers that import the task stack once, before forking (DESIGN.md)
            "AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS": "ml_pipeline_airflow.celery_config.CELERY_CONFIG",
            # a task unacknowledged this long is redelivered: above the longest task (execution_timeout 2 h)
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "21600"}


def pools() -> dict[str, dict]:
    """The Airflow pools the platform creates (``airflow pools import`` format)."""
    return {TRAINING_POOL: {"slots": TRAINING_SLOTS, "include_deferred": False,
                            "description": "Model training on CPUs (training.device: cpu, or auto without a GPU)"},
            GPU_POOL: {"slots": gpus(), "include_deferred": False,
                       "description": "Model training on GPUs: one slot per GPU, so jobs never share a card"}}


def components(layout: Layout) -> list[Component]:
    """Long-running components in start order (stopped in groups: `supervisor.stop_order`)."""
    # MLflow's basic-auth app: every call logs in, even on loopback (mlflow_auth; benchmarks/results/mlflow_auth.json)
    mlflow = [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--host", "127.0.0.1",
              "--port", str(layout.mlflow_port),
              "--artifacts-destination", layout.mlflow_artifacts.as_uri(), "--serve-artifacts",
              "--workers", "2"]
    airflow = str(BIN / "airflow")
    embedded_database = [] if database.external_url() else [
        Component(EMBEDDED_DATABASE, database.server_argv(layout), user=database.server_user(), stop_signal="SIGINT",
                  inherits=BASIC)]
    sinks = [Component("alert-sinks", [sys.executable, "-m", "ml_platform.alert_sinks", "--http-port",
                                       str(layout.slack_sink_port), "--smtp-port", str(layout.smtp_sink_port),
                                       "--store", str(layout.alerts_file)], inherits=BASIC)]
    return embedded_database + sinks + [
        # MLflow 3.17's server starts seven job-queue consumers (GenAI scorers, trace rollups) we never use: ~40 s
        # of CPU at start and 2 GB of memory on a 2-core machine
        # its backend store's URL in the environment: an external server's may hold a password
        Component("mlflow", mlflow, inherits=MLFLOW_SERVER, env={
            "MLFLOW_BACKEND_STORE_URI": database.database_url(layout, "mlflow"),
            **mlflow_auth.server_env(layout.mlflow_auth_config,
                                     read_secret(layout.secrets_file, mlflow_auth.FLASK_SECRET) or ""),
            **mlflow_auth.auth_database(layout)[1],  # an external auth database's password, out of the ini file
            **mlflow_auth.client_env("", ""),  # a server holds no client's login
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": os.environ.get("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")}),
        # Each API-server worker serves the Task Execution API of up to 32 task processes at once: Airflow's
        # database pool (5 + 10 overflow) ran dry under 50 concurrent runs (requests waited 30 s for a connection
        # and failed); 8 + 24 per worker stays within PostgreSQL's connections with everything else. Gunicorn
        # builds the app once and forks its workers (uvicorn's each build it again: a start 52 → 35 s on 2 cores),
        # without gunicorn's control socket (one path per user: the platforms of one machine would share it).
        Component("api-server", [airflow, "api-server"], env={name: os.environ.get(name, value) for name, value in (
            ("AIRFLOW__API__SERVER_TYPE", "gunicorn"), ("GUNICORN_CMD_ARGS", "--no-control-socket"),
            ("AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE", "8"), ("AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW", "24"))}),
        Component("scheduler", [airflow, "scheduler"]),
        Component("dag-processor", [airflow, "dag-processor"]),
        Component("triggerer", [airflow, "triggerer"]),
        Component("lineage-shipper", [sys.executable, "-m", "ml_platform.lineage_shipper", "--events",
                                      str(layout.lineage_events_file)], inherits=BASIC,
                  env={LINEAGE_DATABASE_URL_ENV: database.database_url(layout, database.PLATFORM_DATABASE)}),
        *celery_workers(layout),
        *serving_components(layout),
        *metrics_components(layout),
    ]


def metrics_components(layout: Layout, configs: list[ModelConfig] | None = None) -> list[Component]:
    """The metrics exporter, and Prometheus scraping it where it is installed (else ``prometheus.why_not_running``).

    The exporter scrapes the model servers of ``configs`` (default: the config folder's).
    """
    endpoints = {name: f"http://127.0.0.1:{port}" for name, (_, port) in layout.serving_endpoints(configs).items()}
    exporter = Component("metrics-exporter", exporter_argv(layout.metrics_port, layout.statsd_port, endpoints),
                         inherits=BASIC, env={
        "ML_PLATFORM_METRICS_DATABASE_URL": database.database_url(layout, database.PLATFORM_DATABASE)})
    if prometheus.prometheus_binary() is None:
        return [exporter]
    return [exporter, Component("prometheus", prometheus.component_argv(
        layout.metrics_url, layout.prometheus, layout.prometheus_port), inherits=BASIC)]


def serving_components(layout: Layout, configs: list[ModelConfig] | None = None) -> list[Component]:
    """One server per endpoint of an enabled model: it serves the champion as soon as there is one, and follows it.

    ``configs`` defaults to the config folder's; each endpoint keeps its port (``serving_ports``). Each server logs
    what it scores to the lake's prediction log (``predictions/<model>/<day>``), with the model's
    ``monitoring.entity_key`` as each row's entity id; rows wait in the platform's spool while the lake fails.
    Each inherits only ``process_env.MODEL_SERVER``: no Airflow or database secret; it logs in to MLflow as
    ``serving``, which reads the registry and changes nothing in it.
    """
    configs = model_configs(layout) if configs is None else configs
    entity_keys = {config.model_name: config.monitoring.entity_key for config in configs}
    login = mlflow_auth.platform_credentials(layout.secrets_file, mlflow_auth.SERVING) or {
        "MLFLOW_TRACKING_USERNAME": "", "MLFLOW_TRACKING_PASSWORD": ""}  # never the tasks' login
    return [Component(f"{SERVING_PREFIX}{name}", serving_argv(
                model, port, layout.mlflow_url, prediction_log=layout.lake.as_uri(),
                entity_key=entity_keys.get(model), spill_dir=layout.prediction_spool / name), inherits=MODEL_SERVER,
                      env=login)
            for name, (model, port) in layout.serving_endpoints(configs).items()]


def celery_workers(layout: Layout) -> list[Component]:
    """``ML_PLATFORM_CELERY_WORKERS`` workers, none with the LocalExecutor (others: ``airflow celery worker``)."""
    names = [f"{CELERY_WORKER_PREFIX}{i}" for i in range(1, CELERY_WORKERS + 1)] if EXECUTOR == "celery" else []
    return [Component(name, [str(BIN / "airflow"), "celery", "worker", "--celery-hostname", celery_node(layout, name)])
            for name in names]


def celery_node(layout: Layout, component: str) -> str:
    """The Celery node name of a worker component, unique per platform on a shared broker (``%h``: this host)."""
    return f"worker{component.removeprefix(CELERY_WORKER_PREFIX)}-{layout.airflow_port}@%h"
