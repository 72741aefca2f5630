"""The platform database's gauges, computed at scrape time from real tables (SQLite here, PostgreSQL in
tests/integration/test_prometheus.py)."""

import datetime as dt

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore
from ml_pipeline.monitoring.history import MonitoringCheck, MonitoringHistory
from ml_pipeline.platform_health.store import platform_health
from ml_platform.metrics.platform_db import PlatformDatabaseCollector


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    registry = CollectorRegistry()
    registry.register(PlatformDatabaseCollector(url))
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(generate_latest(registry).decode())
            for s in family.samples}


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/platform.db"
    MonitoringHistory(url).create_schema()
    DeadLetterStore(url).create_schema()
    return url


def test_drift_scores_and_live_auc_come_from_the_newest_judged_check_and_status_from_the_newest(url):
    history = MonitoringHistory(url)
    feature = {"amount": {"method": "psi_quantile", "score": 0.05, "status": "stable"}}
    history.record(MonitoringCheck("fraud_detection", "stable", "ok", version="2", run_id="r1", features=feature))
    history.record(MonitoringCheck(
        "fraud_detection", "alert", "drift", version="3", run_id="r2", drift_share=0.5, drifted=True,
        features={"amount": {"method": "psi_quantile", "score": 0.41, "status": "alert"},
                  "merchant_category": {"method": "psi_categorical", "score": 0.02, "status": "stable"}},
        live={"auc": 0.91, "status": "ok"}))
    history.record(MonitoringCheck("fraud_detection", "skipped", "no new rows", version="3", run_id="r3"))
    got = scrape(url)
    model = (("model", "fraud_detection"), ("version", "3"))
    amount = (("feature", "amount"), ("method", "psi_quantile"), *model)
    assert got[("ml_model_feature_drift_score", amount)] == pytest.approx(0.41)
    assert got[("ml_model_feature_drift_status", (("feature", "amount"), *model))] == 2
    assert got[("ml_model_drift_share", model)] == 0.5
    assert got[("ml_model_drifted", model)] == 1
    assert got[("ml_model_live_auc", model)] == pytest.approx(0.91)
    assert got[("ml_model_monitoring_status", (("model", "fraud_detection"), ("status", "skipped")))] == 1
    assert got[("ml_model_monitoring_status", (("model", "fraud_detection"), ("status", "alert")))] == 0
    assert not any(name == "ml_model_feature_drift_score" and ("version", "2") in labels for name, labels in got)
    assert got[("ml_platform_db_up", ())] == 1  # platform_health not there yet: its series only are missing
    assert not any(name.startswith("ml_platform_health") for name, _ in got)


def test_pending_dead_letters_are_counted_per_model_and_dag(url):
    store = DeadLetterStore(url)
    for attempt in (1, 2):
        store.add(DeadLetter("training_fraud", "run", "train", -1, attempt, "ValueError", "x", model="fraud"))
    done = store.add(DeadLetter("training_fraud", "run", "evaluate", -1, 1, "ValueError", "x", model="fraud"))
    store.mark(done, "discarded", "not needed")
    store.add(DeadLetter("platform_dag", "run", "check", -1, 1, "ValueError", "x"))
    got = scrape(url)
    assert got[("ml_dead_letters_pending", (("dag_id", "training_fraud"), ("model", "fraud")))] == 2
    assert got[("ml_dead_letters_pending", (("dag_id", "platform_dag"), ("model", "")))] == 1


def test_platform_health_exposes_each_checks_newest_finding(url):
    engine = sa.create_engine(url)
    now = dt.datetime(2026, 11, 21, 12, tzinfo=dt.UTC)
    with engine.begin() as conn:
        platform_health.create(conn)
        rows = [(now - dt.timedelta(minutes=30), "run_failures", "training_fraud", "fraud", "ok", 0.0, 0.2),
                (now, "run_failures", "training_fraud", "fraud", "alert", 0.5, 0.2),
                (now, "stuck_tasks", "training_fraud", "fraud", "warn", 2.0, None),
                (now, "component", "scheduler", None, "ok", 3.0, 60.0)]
        conn.execute(platform_health.insert(), [
            {"checked_at": checked_at, "check": check, "subject": subject, "model": model, "status": status,
             "value": value, "threshold": threshold, "message": "m"}
            for checked_at, check, subject, model, status, value, threshold in rows])
    got = scrape(url)
    fraud = (("check", "run_failures"), ("model", "fraud"), ("subject", "training_fraud"))
    assert got[("ml_platform_health_status", fraud)] == 2
    assert got[("ml_platform_health_value", fraud)] == 0.5
    assert got[("ml_platform_health_threshold", fraud)] == 0.2
    assert got[("ml_platform_health_status", (("check", "stuck_tasks"), ("model", "fraud"),
                                              ("subject", "training_fraud")))] == 1
    assert got[("ml_platform_health_value", (("check", "component"), ("model", ""), ("subject", "scheduler")))] == 3


def test_an_unreachable_database_says_so_and_costs_only_its_series():
    got = scrape("postgresql+psycopg2://nobody@127.0.0.1:1/ml_platform")
    assert got == {("ml_platform_db_up", ()): 0.0}
