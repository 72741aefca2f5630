"""The platform's dashboard without Airflow: what its pages show (``data``), drawn (``charts``, ``pages``)."""
