"""
### Platform failure drills

`platform_failure_drill`, `platform_asset_drill` and `platform_deadline_drill` fail on purpose (transiently,
permanently, on an asset event, by running late) so that retries, alerts, the dead-letter queue and its replay, and
deadlines can be seen working; `platform_stuck_drill` holds a task that never starts, for the platform-health DAG to
report. Manual runs only (`platform_asset_drill`: on its asset's events).
"""

from ml_pipeline_airflow.drills import build_drill_dags

globals().update(build_drill_dags())
