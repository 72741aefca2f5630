"""The platform's metrics in Prometheus format: one exporter for Airflow's StatsD, the platform database and serving.

``ml_platform.metrics.exporter`` runs as the ``metrics-exporter`` component; ``statsd_bridge`` turns Airflow's
influx-tagged StatsD lines into Prometheus series, ``platform_db`` computes gauges from the platform database at
scrape time, ``model_servers`` re-exposes each model server's ``/metrics`` with its endpoint's name, and
``prometheus`` writes the configuration of the optional Prometheus server. docs/DESIGN.md "Metrics and Prometheus".
"""
