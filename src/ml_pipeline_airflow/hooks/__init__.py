"""Hooks: thin, lazily built clients from Airflow Connections."""
