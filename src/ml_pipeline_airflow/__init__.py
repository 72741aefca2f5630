"""ml_pipeline_airflow: the Airflow 3 glue around the ``ml_pipeline`` core.

Laid out like an Airflow provider package: ``hooks/`` wrap external services
behind Connections, ``tasks/`` turn core steps into TaskFlow tasks, and
``dag_factory`` builds each model's DAG from its YAML config. This is the only
library package that imports Airflow.
"""
