"""The local PagerDuty Events API v2 stand-in: valid events answered 202 and kept, invalid ones refused."""

import threading
from http.server import ThreadingHTTPServer

import httpx
import pytest

from ml_platform.alert_sinks import alert_handler, pagerduty_event_errors, read_alerts

KEY = "k" * 32
TRIGGER = {"routing_key": KEY, "event_action": "trigger", "dedup_key": "fraud/down",
           "payload": {"summary": "fraud-api down", "severity": "critical", "source": "fraud-api"}}


@pytest.fixture
def sink(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), alert_handler(tmp_path / "alerts.jsonl"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", tmp_path / "alerts.jsonl"
    server.shutdown()
    server.server_close()


def test_a_trigger_and_its_resolve_are_processed_and_recorded(sink):
    url, store = sink
    answer = httpx.post(f"{url}/v2/enqueue", json=TRIGGER)
    assert answer.status_code == 202
    assert answer.json() == {"status": "success", "message": "Event processed", "dedup_key": "fraud/down"}
    resolved = httpx.post(f"{url}/v2/enqueue", json={"routing_key": KEY, "event_action": "resolve",
                                                      "dedup_key": "fraud/down"})
    assert resolved.status_code == 202
    received = read_alerts(store)
    assert [(r["channel"], r["event_action"], r["dedup_key"]) for r in received] == [
        ("pagerduty", "trigger", "fraud/down"), ("pagerduty", "resolve", "fraud/down")]
    assert received[0]["text"] == "fraud-api down" and received[0]["severity"] == "critical"


def test_a_trigger_without_a_dedup_key_gets_one(sink):
    url, _ = sink
    event = {k: v for k, v in TRIGGER.items() if k != "dedup_key"}
    assert len(httpx.post(f"{url}/v2/enqueue", json=event).json()["dedup_key"]) == 32


def test_a_malformed_event_is_refused_with_pagerdutys_error_and_not_recorded(sink):
    url, store = sink
    bad = {**TRIGGER, "routing_key": "short", "payload": {"summary": "", "severity": "urgent", "source": "x"}}
    answer = httpx.post(f"{url}/v2/enqueue", json=bad)
    assert answer.status_code == 400
    body = answer.json()
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert any("routing_key" in e for e in body["errors"]) and any("severity" in e for e in body["errors"])
    assert any("payload.summary" in e for e in body["errors"])
    assert httpx.post(f"{url}/v2/enqueue", content=b"{not json").status_code == 400
    assert read_alerts(store) == []


@pytest.mark.parametrize(("event", "error"), [
    ({**TRIGGER, "event_action": "escalate"}, "'event_action' must be one of"),
    ({"routing_key": KEY, "event_action": "resolve"}, "'dedup_key' is required for event_action resolve"),
    ({"routing_key": KEY, "event_action": "trigger"}, "'payload' is missing"),
    ({**TRIGGER, "dedup_key": "x" * 256}, "1 to 255 characters"),
    ([1, 2], "not a JSON object"),
])
def test_each_rule_of_the_events_api(event, error):
    assert any(error in e for e in pagerduty_event_errors(event)), pagerduty_event_errors(event)
    assert pagerduty_event_errors(TRIGGER) == []


def test_slack_webhooks_still_answer_ok_on_the_same_port(sink):
    url, store = sink
    answer = httpx.post(f"{url}/services/T0/B0/x", json={"text": "hello"})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert read_alerts(store)[-1]["channel"] == "slack"
