"""The platform's executors: Airflow's, with the task stack imported once before the task processes fork."""
