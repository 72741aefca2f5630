"""ml_pipeline_airflow: the Airflow 3 glue around the ``ml_pipeline`` core.

Laid out like an Airflow provider package: ``hooks/`` wrap external services behind Connections, ``operators/``,
``sensors/``, ``triggers/`` and ``notifications/`` play their Airflow roles, ``tasks/`` turn core steps into
TaskFlow tasks, ``runtime`` describes the running task to the core, ``pools`` bounds training, and
``dag_kinds/`` builds each model's DAGs (one module per kind, one loader) from its YAML config. This is the only
library package that imports Airflow; ``dag_ids`` (the DAGs' names) and ``api_client`` (Airflow's REST API) do not,
so the platform's processes use them without loading Airflow.
"""
