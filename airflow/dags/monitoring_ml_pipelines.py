"""
### Platform health: `monitoring_ml_pipelines`

Every 30 minutes, the platform watches itself through Airflow's REST API, the platform database and the model
endpoints: each DAG's failures and durations over 24 h against its 7-day baseline, missed deadlines, stuck tasks and
queued runs, Airflow's components, import errors and invalid configs, dead letters, and whether every endpoint
answers with its champion. Findings go to the `platform_health` table (the dashboard's platform page reads it);
Slack and e-mail hear only what started or cleared. Thresholds: `config/platform_health.yaml`.
"""

import datetime as dt

from airflow.sdk import DAG, CronTriggerTimetable

from ml_pipeline.platform_health.settings import load_settings
from ml_pipeline_airflow.notifications.alerts import TaskFailureAlert
from ml_pipeline_airflow.tasks.platform_health import announce_changes, check_endpoints, check_pipelines, check_platform

settings = load_settings()

with DAG(
    "monitoring_ml_pipelines",
    schedule=CronTriggerTimetable(settings.schedule, timezone="UTC") if settings.schedule else None,
    catchup=False,
    is_paused_upon_creation=False,  # the platform watches itself from its first start, in every deployment shape
    max_active_runs=1,
    tags=["ml", "platform", "monitoring"],
    doc_md=__doc__,
    default_args={"owner": "ml-platform", "retries": 2, "retry_delay": dt.timedelta(seconds=30),
                  "execution_timeout": dt.timedelta(minutes=10),
                  "on_failure_callback": [TaskFailureAlert("platform", settings.slack_connection,
                                                           settings.email_connection, list(settings.email_to))]},
):
    announce_changes(check_pipelines(), check_platform(), check_endpoints())
