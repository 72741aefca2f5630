"""The platform's own health: what ``monitoring_ml_pipelines`` measures every 30 minutes.

Judged and kept as a time series (``platform_health`` table), with alerts only when a problem starts or clears.
"""
