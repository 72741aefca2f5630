"""The profiles of ``make bench-scale`` (``scale.py``): each an executor, the environment it changes from the
platform's defaults, and how many real training pipelines run among the probe's runs.

``bare-*`` are plain ``airflow standalone`` (``bare_airflow.py``); ``*-airflow-defaults`` put back, inside the
platform, Airflow's own value of every setting the platform tunes; every other profile changes one thing.
"""

from __future__ import annotations

from tests.support.platforms import SERVER  # the machine's PostgreSQL (scale.py puts the checkout on the path)

# Airflow's own values of every Airflow setting the platform tunes (src/ml_platform/components.py), and no
# preloading: the "airflow-defaults" profiles measure Airflow's choices on the same machine, in the same run (the
# baseline). MLflow's job queues stay off in both (not an Airflow setting: on, they cost the baseline ~25 s of CPU).
AIRFLOW_DEFAULTS = {"ML_PLATFORM_PARALLELISM": "32", "ML_PLATFORM_API_WORKERS": "4", "ML_PLATFORM_PRELOAD": "0",
                    "ML_PLATFORM_CELERY_CONCURRENCY": "16", "ML_PLATFORM_TASK_NICE": "0",
                    "AIRFLOW__API__SERVER_TYPE": "uvicorn", "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "5",
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "10",
                    "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE": "20",
                    "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "16",
                    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1",
                    "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "30",
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "5",
                    "AIRFLOW__SCHEDULER__ORPHANED_TASKS_CHECK_INTERVAL": "300.0",
                    "AIRFLOW__CORE__DEFAULT_TASK_WEIGHT_RULE": "downstream"}
PROFILES = {  # name: (executor, settings, real pipelines among the runs)
    "bare-standalone": ("bare", {}, 0),
    "bare-standalone-our-dags": ("bare-our-dags", {}, 0),
    "local-airflow-defaults": ("local", AIRFLOW_DEFAULTS, 0),
    "local": ("local", {}, 0),
    "celery-airflow-defaults": ("celery", AIRFLOW_DEFAULTS, 0),
    "celery": ("celery", {}, 0),
    # each component in a session of its own (before 2026-12-05): an equal share of the cores each, under autogroups
    "local-session-per-component": ("local", {"ML_PLATFORM_COMPONENT_SESSIONS": "own"}, 0),
    "celery-session-per-component": ("celery", {"ML_PLATFORM_COMPONENT_SESSIONS": "own"}, 0),
    "local-no-preload": ("local", {"ML_PLATFORM_PRELOAD": "0"}, 0),
    "local-no-lineage": ("local", {"AIRFLOW__OPENLINEAGE__DISABLED": "True"}, 0),
    "local-no-task-nice": ("local", {"ML_PLATFORM_TASK_NICE": "0"}, 0),
    "local-machine-postgres": ("local", {"ML_PLATFORM_DATABASE_URL": SERVER,
                                         "ML_PLATFORM_DATABASE_PREFIX": "benchlocal_"}, 0),
    "local-downstream-weight": ("local", {"AIRFLOW__CORE__DEFAULT_TASK_WEIGHT_RULE": "downstream"}, 0),
    "local-parallelism-64": ("local", {"ML_PLATFORM_PARALLELISM": "64"}, 0),
    "local-parallelism-16": ("local", {"ML_PLATFORM_PARALLELISM": "16"}, 0),
    "local-parallelism-8": ("local", {"ML_PLATFORM_PARALLELISM": "8"}, 0),
    "local-task-nice-5": ("local", {"ML_PLATFORM_TASK_NICE": "5"}, 0),
    "local-task-nice-19": ("local", {"ML_PLATFORM_TASK_NICE": "19"}, 0),
    "local-tis-16": ("local", {"AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY": "16"}, 0),
    # the scheduler's idle sleep 0.25 s whether or not a task runs (before 2026-12-05 08:00; the platform: 0.1 s)
    "local-idle-sleep-0.25": ("local", {"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.25"}, 0),
    "local-uvicorn-api-server": ("local", {"AIRFLOW__API__SERVER_TYPE": "uvicorn"}, 0),
    "local-airflow-loop": ("local", {name: AIRFLOW_DEFAULTS[name] for name in (
        "AIRFLOW__SCHEDULER__MAX_DAGRUNS_PER_LOOP_TO_SCHEDULE", "AIRFLOW__SCHEDULER__MAX_TIS_PER_QUERY")}, 0),
    "celery-no-preload": ("celery", {"ML_PLATFORM_PRELOAD": "0"}, 0),
    # no STARTED write to the result backend before each task (Airflow 3.3 treats PENDING and STARTED alike)
    "celery-no-track-started": ("celery", {"AIRFLOW__CELERY__TASK_TRACK_STARTED": "False"}, 0),
    # Celery's slots (the platform: 48 pool processes in one worker, parallelism 96): 32 (the platform's before
    # 2026-12-05 18:00) or 64, two workers of 16, or each worker holding a second message per pool process in
    # reserve (Airflow: 1), so that a freed process need not wait for Redis
    "celery-concurrency-32": ("celery", {"ML_PLATFORM_CELERY_CONCURRENCY": "32"}, 0),
    "celery-concurrency-64": ("celery", {"ML_PLATFORM_CELERY_CONCURRENCY": "64"}, 0),
    "celery-two-workers": ("celery", {"ML_PLATFORM_CELERY_WORKERS": "2", "ML_PLATFORM_CELERY_CONCURRENCY": "16"}, 0),
    "celery-prefetch-2": ("celery", {"AIRFLOW__CELERY__WORKER_PREFETCH_MULTIPLIER": "2"}, 0),
    # Celery's task states in Redis rather than the metadata database (tried 2026-12-05 20:13: within the noise)
    "celery-redis-results": ("celery", {"AIRFLOW__CELERY__RESULT_BACKEND": "redis://127.0.0.1:6379/1"}, 0),
    "local-pipelines-no-preload": ("local", {"ML_PLATFORM_PRELOAD": "0"}, 20),
    "local-pipelines": ("local", {}, 20),
    "celery-pipelines": ("celery", {}, 20),
}
