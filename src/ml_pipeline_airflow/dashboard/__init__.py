"""The platform's dashboard inside Airflow's UI: a FastAPI app in the API server, entries in its navigation."""
