"""Announcements and pages through the real Slack, SMTP and PagerDuty providers to the platform's local sinks.

The sinks run as their own process (``ml_platform.alert_sinks``, as the platform starts them); the notifiers find
them through Airflow connections in the environment, as a task would.
"""

import json
import os
import time

import pytest

from ml_pipeline.config import AlertsConfig
from ml_pipeline_airflow.notifications import announcements, pagerduty
from ml_platform.alert_sinks import read_alerts
from tests.support.services import PAGERDUTY_ROUTING_KEY, alert_sinks

pytestmark = pytest.mark.integration
SUMMARY = {"model_name": "fraud_notes", "version": "7", "aliases": ["challenger"], "dag_id": "ml_training_fraud_notes",
           "run_id": "manual__2026-11-22", "rows": 1200, "partitions": ["2026-11-20", "2026-11-21"],
           "snapshot_uri": "file:///lake/snap.parquet", "data_hash": "0123456789abcdef", "mlflow_run_id": "r",
           "metrics": {"auc": 0.93, "f1": 0.4}, "decision": {"promote": True, "reason": "beats champion auc 0.9100"}}


@pytest.fixture
def sinks(tmp_path, monkeypatch):
    store = tmp_path / "alerts.jsonl"
    with alert_sinks(store) as connections:
        for name, value in connections.items():
            monkeypatch.setenv(name, value)
        yield store


def received(store, channel: str, count: int) -> list[dict]:
    """The messages of ``channel`` once ``count`` have arrived (SMTP delivery is asynchronous), at most 15 s."""
    deadline = time.monotonic() + 15
    while True:
        found = [a for a in read_alerts(store) if a["channel"] == channel]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def test_a_run_summary_reaches_slack_and_email_with_its_numbers_and_links(sinks):
    note = announcements.run_summary_note(
        SUMMARY, {"version": "6", "run_id": "r6", "auc": 0.91},
        announcements.run_url(SUMMARY["dag_id"], SUMMARY["run_id"]), "http://mlflow:5000/#/models/fraud_notes/versions/7")
    announcements.announce(note, AlertsConfig(email_to=["team@example.com"]), {})
    [slack] = received(sinks, "slack", 1)
    [email] = received(sinks, "email", 1)
    assert slack["text"].startswith(":white_check_mark: *fraud_notes* v7: trained and registered")
    assert "Holdout: AUC 0.9300 vs champion v6 0.9100 (+0.0200)" in slack["text"]
    assert "Data: 2 days 2026-11-20 … 2026-11-21, 1,200 rows" in slack["text"]
    assert "/dags/ml_training_fraud_notes/runs/manual__2026-11-22" in slack["text"]
    assert "MLflow version: http://mlflow:5000/#/models/fraud_notes/versions/7" in slack["text"]
    assert email["to"] == ["team@example.com"]
    assert email["subject"] == "[ml-platform] fraud_notes v7: trained and registered (beats champion auc 0.9100)"
    assert "<li>Holdout: AUC 0.9300 vs champion v6 0.9100 (+0.0200)</li>" in email["text"]
    assert 'href="http://mlflow:5000/#/models/fraud_notes/versions/7"' in email["text"]


def test_channels_set_to_null_send_nothing_and_a_dead_channel_does_not_stop_the_others(sinks, monkeypatch):
    note = announcements.rollback_note("fraud_notes", {"from": "7", "to": "6", "reason": "health check"},
                                       "rolled back", None, None)
    announcements.announce(note, AlertsConfig(slack_connection=None, email_connection=None), {})
    assert not pagerduty.page(None, "never sent", dedup_key="k", source="fraud_notes")
    monkeypatch.setenv("AIRFLOW_CONN_SLACK_DOWN", '{"conn_type": "slackwebhook", "password": "http://127.0.0.1:9/x"}')
    announcements.announce(note, AlertsConfig(slack_connection="slack_down"), {})  # must not raise
    [email] = received(sinks, "email", 1)
    assert email["subject"] == "[ml-platform] fraud_notes v7: rolled back v7 → v6 (verified): health check"
    assert [a["channel"] for a in read_alerts(sinks)] == ["email"]


def test_a_page_triggers_an_incident_that_a_resolve_with_its_dedup_key_closes(sinks):
    assert pagerduty.page("pagerduty_default", "fraud-api endpoint down: connection refused",
                          dedup_key="ml-platform/endpoint-down/fraud-api", source="fraud-api",
                          custom_details={"endpoint": "fraud-api", "error": "{{ not a template }}"},
                          links=[{"href": "http://af/dags/platform_health", "text": "Airflow run"}])
    assert pagerduty.resolve("pagerduty_default", "ml-platform/endpoint-down/fraud-api", source="fraud-api",
                             summary="fraud-api answers again")
    trigger, resolve = received(sinks, "pagerduty", 2)
    assert (trigger["event_action"], trigger["severity"], trigger["source"]) == ("trigger", "critical", "fraud-api")
    assert trigger["text"] == "fraud-api endpoint down: connection refused"
    assert trigger["event"]["routing_key"] == "…" + PAGERDUTY_ROUTING_KEY[-4:], "the sink keeps no routing key"
    assert trigger["event"]["payload"]["custom_details"]["error"] == "{{ not a template }}"
    assert trigger["event"]["links"] == [{"href": "http://af/dags/platform_health", "text": "Airflow run"}]
    assert (resolve["event_action"], resolve["dedup_key"]) == ("resolve", trigger["dedup_key"])
    assert trigger["dedup_key"] == "ml-platform/endpoint-down/fraud-api"


def test_a_production_rollback_pages_and_resolves_an_earlier_failed_rollback(sinks):
    assert pagerduty.page_rollback("pagerduty_default", "fraud_notes", "model_deployment_fraud_notes", "run_1",
                                   "http://af/dags/model_deployment_fraud_notes/runs/run_1",
                                   {"from": "7", "to": "6", "reason": "v7 underperforms live"})
    assert pagerduty.page_rollback_failed("pagerduty_default", "fraud_notes", "model_deployment_fraud_notes",
                                          "run_2", "http://af/x", "8", "serving down", ConnectionError("refused"))
    events = received(sinks, "pagerduty", 3)
    assert [(e["event_action"], e["dedup_key"]) for e in events] == [
        ("trigger", "ml-platform/fraud_notes/rollback/run_1"), ("resolve", "ml-platform/fraud_notes/rollback-failed"),
        ("trigger", "ml-platform/fraud_notes/rollback-failed")]
    assert events[0]["text"] == "fraud_notes: production rolled back v7 → v6: v7 underperforms live"
    assert events[2]["text"].startswith("fraud_notes: rollback of v8 FAILED: ConnectionError")


def test_an_event_the_sink_refuses_is_not_recorded_and_does_not_raise(sinks, monkeypatch):
    host = json.loads(os.environ["AIRFLOW_CONN_PAGERDUTY_DEFAULT"])["host"]
    monkeypatch.setenv("AIRFLOW_CONN_PAGERDUTY_BAD_KEY", json.dumps(
        {"conn_type": "pagerduty_events", "host": host, "password": "too-short"}))
    assert not pagerduty.page("pagerduty_bad_key", "refused", dedup_key="k", source="m")
    assert read_alerts(sinks) == []


def test_platform_health_announces_what_started_and_recovered_once_and_pages_for_an_endpoint(sinks):
    """One Slack message and one e-mail per run listing every transition; an endpoint down pages, its recovery
    resolves the incident."""
    from types import SimpleNamespace

    from ml_pipeline.platform_health.settings import HealthSettings
    from ml_pipeline.platform_health.store import HealthFinding
    from ml_pipeline_airflow.notifications.platform_health import announce

    settings = HealthSettings(pagerduty_connection="pagerduty_default", email_to=["ops@example.com"])
    context = {"ti": SimpleNamespace(dag_id="monitoring_ml_pipelines", run_id="scheduled__1")}
    down = HealthFinding(check="endpoint", subject="fraud-api", status="alert", transition="started",
                         message="fraud-api (fraud) does not answer at http://127.0.0.1:9: ConnectError <refused>",
                         data={"url": "http://127.0.0.1:9"})
    fixed = HealthFinding(check="latest_run", subject="platform_failure_drill", status="ok",
                          transition="recovered", message="platform_failure_drill: latest run r2 succeeded")
    announce([down, fixed], settings, context)
    [slack] = received(sinks, "slack", 1)
    [email] = received(sinks, "email", 1)
    [page] = received(sinks, "pagerduty", 1)
    assert slack["text"].startswith("*Platform health* (1 new, 1 recovered; 1 open)")
    assert ":red_circle: started · alert · `endpoint` fraud-api (fraud) does not answer" in slack["text"]
    assert ":large_green_circle: recovered · ok · `latest_run` platform_failure_drill: latest run r2" in slack["text"]
    assert email["to"] == ["ops@example.com"] and email["subject"].startswith(
        "[ml-platform] platform health: 1 new, 1 recovered — fraud-api, platform_failure_drill")
    assert "ConnectError &lt;refused&gt;" in email["text"], "exception text is escaped in the HTML mail"
    assert (page["event_action"], page["dedup_key"]) == ("trigger", "ml-platform/endpoint-down/fraud-api")
    back = HealthFinding(check="endpoint", subject="fraud-api", status="ok", transition="recovered",
                         message="fraud-api serves fraud v3 (the champion)")
    announce([back], settings, context)
    assert [(e["event_action"], e["dedup_key"]) for e in received(sinks, "pagerduty", 2)][1] == (
        "resolve", "ml-platform/endpoint-down/fraud-api")
    announce([], settings, context)  # nothing changed: nothing sent
    time.sleep(1)
    assert len([a for a in read_alerts(sinks) if a["channel"] == "slack"]) == 2
