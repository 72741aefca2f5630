"""Metrics end to end through a real Prometheus: Airflow's StatsD, the platform database and a model server.

Real processes only: an MLflow server with a small registered champion, the model server serving it, the
platform database on the machine's PostgreSQL (a unique database, dropped after) holding a monitoring check, the
metrics exporter, and Prometheus scraping the exporter every second with the committed rules loaded. StatsD
packets are sent by Airflow's own StatsD logger as the platform configures it (influx tags). PromQL through
Prometheus' HTTP API must then return a DAG-run duration, a model's drift score and a serving latency quantile.
"""

import datetime as dt
import time
import uuid

import psycopg2
import pytest
import yaml
from mlflow import MlflowClient
from statsd import StatsClient

from ml_pipeline.config import config_dir
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from ml_pipeline.data.loader import load_partitions
from ml_pipeline.deployment.client import ServingClient, free_port, running_server
from ml_pipeline.features.registry import build_features
from ml_pipeline.monitoring.history import MonitoringCheck, MonitoringHistory
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.stores.schema import create_schema
from ml_pipeline.training.trainer import to_model_input, train_classifier
from ml_platform.layout import free_ports, free_udp_port
from tests.support import prometheus as prom
from tests.support.services import mlflow_server

pytestmark = pytest.mark.integration
SERVER = "postgresql://postgres@127.0.0.1:5432"
MODEL, ENDPOINT, DAG_ID = "fraud_metrics", "fraud-metrics", "training_fraud_metrics"
LAST_DAY = dt.date(2026, 11, 21)


@pytest.fixture(scope="module")
def platform_database():
    """A unique database on the machine's PostgreSQL with the platform's tables; dropped afterwards."""
    try:
        psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3).close()
    except psycopg2.OperationalError as exc:
        pytest.skip(f"!!! metrics integration NOT TESTED: no PostgreSQL on 127.0.0.1:5432 ({exc})")
    name = f"mltest_prom_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(f"{SERVER}/postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    try:
        create_schema(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(scope="module")
def stack(platform_database, tmp_path_factory):
    """MLflow, a model server with a champion, the exporter and Prometheus; yields URLs and sample rows."""
    prom.prometheus_binary()
    home = tmp_path_factory.mktemp("metrics")
    lake = (home / "lake").as_uri()
    generate_dataset(join_uri(lake, "transactions"), LAST_DAY, days=1, rows_per_day=300, seed=3)
    features = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())["data"]["features"]
    frame = build_features(load_partitions(join_uri(lake, "transactions"), LAST_DAY, 1)[0], features)
    MonitoringHistory(platform_database).record(MonitoringCheck(
        MODEL, "alert", "amount drifted", version="1", dag_id=f"model_monitoring_{MODEL}", run_id="check-1",
        drift_share=0.25, drifted=True, features={"amount": {"method": "psi_quantile", "score": 0.37,
                                                             "status": "alert"}}))
    (serving_port, metrics_port, mlflow_port), statsd_port = free_ports(3), free_udp_port()
    with mlflow_server(home / "mlflow", mlflow_port) as mlflow_url:
        model = train_classifier(frame, features, "is_fraud", {"max_depth": 2, "n_estimators": 5}, seed=1)
        run_id, uri = registry.log_training_run(mlflow_url, MODEL, "metrics", {}, {}, model,
                                                to_model_input(frame.head(5), features),
                                                pip_requirements=["xgboost-cpu"])
        version = registry.register_once(MlflowClient(mlflow_url), MODEL, run_id, uri, {}).version
        MlflowClient(mlflow_url).set_registered_model_alias(MODEL, registry.CHAMPION, version)
        with running_server(MODEL, serving_port, mlflow_url, home / "serving.log") as server:
            serving = ServingClient(f"http://127.0.0.1:{serving_port}", timeout=10)
            serving.wait_healthy(120, server, version=version)
            with prom.running_exporter(metrics_port, statsd_port, {ENDPOINT: serving.base_url}, platform_database,
                                       home / "exporter.log") as exporter_url, \
                    prom.running_prometheus(exporter_url, home / "prometheus", free_port()) as prometheus_url:
                yield {"prometheus": prometheus_url, "exporter": exporter_url, "statsd_port": statsd_port,
                       "serving": serving, "rows": frame.head(20).select(features).to_dicts()}


def test_promql_returns_a_dag_run_duration_a_drift_score_and_a_serving_latency_quantile(stack):
    from airflow._shared.observability.metrics.statsd_logger import get_statsd_logger

    url = stack["prometheus"]
    assert prom.wait_for_value(url, 'up{job="ml-platform"}', timeout=30) == 1  # scraped before anything happens
    stats = get_statsd_logger(stats_class=StatsClient, host="127.0.0.1", port=stack["statsd_port"],
                              prefix="airflow", influxdb_tags_enabled=True, statsd_influxdb_enabled=True,
                              statsd_disabled_tags="job_id,run_id")
    for seconds in (42.0, 58.0):  # what DagRun._emit_duration_stats_for_finished_state sends
        stats.timing("dagrun.duration.success", dt.timedelta(seconds=seconds),
                     tags={"dag_id": DAG_ID, "run_type": "scheduled"})
    for i in range(20):
        stack["serving"].predict(stack["rows"][: 1 + i % 5])
        time.sleep(0.1)

    duration = prom.wait_for_value(url, prom.dag_run_duration(DAG_ID), until=lambda v: v == pytest.approx(50.0))
    assert duration == pytest.approx(50.0)  # the mean of the two runs, in seconds
    assert prom.wait_for_value(url, prom.drift_score(MODEL, "amount")) == pytest.approx(0.37)
    p95 = prom.wait_for_value(url, prom.serving_latency(ENDPOINT, 0.95, window="1m"))
    assert 0 < p95 < 5, p95
    assert prom.wait_for_value(url, f'ml_serving_up{{endpoint="{ENDPOINT}"}}') == 1
    rows = f'sum(ml_serving_scored_rows_total{{endpoint="{ENDPOINT}"}})'
    assert prom.wait_for_value(url, rows, until=lambda v: v == 60) == 60  # 4 × (1 + 2 + 3 + 4 + 5) rows
    # the committed rules are loaded and evaluated: the seeded drift fires ModelDrift
    alerts = prom.wait_for_value(url, f'count(ALERTS{{alertname="ModelDrift", model="{MODEL}"}})', timeout=30)
    assert alerts == 1
