"""``lineage_events`` on a real PostgreSQL (127.0.0.1:5432): events stored once, read back oldest first."""

import json

import pytest

from ml_pipeline.lineage.store import LineageStore, read_event_file
from ml_pipeline.stores.schema import create_schema
from ml_pipeline.stores.sql import SchemaMissingError
from tests.support import lineage_events as ev
from tests.support.dashboard import fresh_database


@pytest.fixture
def database_url():
    """A database of its own on the machine's PostgreSQL, dropped after."""
    with fresh_database("mltest_lineage") as url:
        yield url


@pytest.fixture
def store(database_url):
    create_schema(database_url)  # what the platform does when it starts
    lineage = LineageStore(database_url)
    yield lineage
    lineage.engine.dispose()


def test_events_with_datasets_come_back_oldest_first_and_a_resent_event_is_stored_once(store):
    history = ev.history()
    for event in reversed(history):
        store.add(event)
    first = store.add(history[1])  # the transport retried after a timeout
    assert store.add(json.loads(json.dumps(history[1]))) == first
    assert store.count() == len(history)
    notification = {**history[0], "run": {"runId": "no-datasets"}, "job": {"namespace": "n", "name": "d.notify"}}
    store.add(notification)  # a run that names no dataset: not part of the graph
    stored = store.events()
    assert canonical(stored) == canonical(history)  # START/COMPLETE of those runs too
    times = [e["eventTime"] for e in stored]
    assert times == sorted(times)
    training = store.events(("ml_training_fraud_detection.",))
    assert training and all(e["job"]["name"].startswith("ml_training_fraud_detection.") for e in training)


@pytest.mark.parametrize(("event", "named"), [
    ({"eventTime": "2026-11-20T06:00:00+00:00", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}},
     "eventType"),
    ({"eventType": "START", "eventTime": "yesterday", "run": {"runId": "r"}, "job": {"namespace": "n", "name": "j"}},
     "ISO 8601"),
    ({"eventType": "START", "eventTime": "2026-11-20T06:00:00Z", "run": {}, "job": {"namespace": "n"}},
     "run.runId, job.name"),
    (["not", "an", "event"], "JSON object"),
    ({"eventType": "START", "eventTime": "2026-11-20T06:00:00Z", "run": {"runId": "r"},
      "job": {"namespace": "n", "name": "j"}, "inputs": 5}, "inputs is no list"),  # stalled the shipper for good
    ({"eventType": "START", "eventTime": "2026-11-20T06:00:00Z", "run": {"runId": "r"},
      "job": {"namespace": "n", "name": "j"}, "outputs": ["s3://x"]}, "outputs holds an item that is no object"),
    ({"eventType": "S" * 21, "eventTime": "2026-11-20T06:00:00Z", "run": {"runId": "r"},
      "job": {"namespace": "n", "name": "j\x00"}}, r"eventType \(21 > 20 characters\), job.name holds a NUL"),
])
def test_what_is_not_a_run_event_is_refused_naming_what_is_missing(store, event, named):
    with pytest.raises(ValueError, match=named):
        store.add(event)
    assert store.count() == 0


def test_a_database_without_the_table_is_named_as_unprepared(database_url):
    store = LineageStore(database_url)
    with pytest.raises(SchemaMissingError, match="lineage_events"):
        store.events()
    store.engine.dispose()


def test_the_event_file_is_read_in_order_skipping_bad_lines(tmp_path, caplog):
    events = ev.training("fraud_detection", 1, ["2026-11-19"], ev.T0)
    path = tmp_path / "events.jsonl"
    lines = [json.dumps(e) for e in events]
    path.write_bytes("\n".join([lines[0], '{"truncated": ', "", "[1, 2]", '{"run": "x"}', *lines[1:]]).encode()
                     + b'\n{"eventType": "\xff"}\n')
    assert read_event_file(path) == events  # the lineage command builds its graph of these: none crashes it
    assert "events.jsonl:2: not JSON" in caplog.text
    assert "events.jsonl:4: an OpenLineage run event is a JSON object, not list, skipped" in caplog.text
    assert "events.jsonl:5: not an OpenLineage run event: missing eventType, eventTime, run.runId" in caplog.text
    assert f"events.jsonl:{len(lines) + 5}: not UTF-8 text, skipped" in caplog.text


def canonical(events: list[dict]) -> list[str]:
    """Events as sorted canonical JSON: the same events whatever their order and their keys' order."""
    return sorted(json.dumps(e, sort_keys=True) for e in events)
