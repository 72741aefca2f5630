"""ml_pipeline: pure ML and data logic for the platform's pipelines.

Nothing in this package imports Airflow: every step is a plain function that
can run in a notebook, a test or an Airflow task alike.
"""

__version__ = "0.1.0"
