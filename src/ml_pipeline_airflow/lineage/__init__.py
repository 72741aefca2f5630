"""OpenLineage in Airflow: each step's datasets emitted through the provider, and the platform's receiver.

``emit`` sends what a step read and wrote as an event of its task; ``receiver`` stores the events the HTTP
transport posts in the platform database.
"""
