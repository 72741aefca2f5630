"""The lineage shipper stores the file transport's events in a real PostgreSQL (127.0.0.1:5432) and loses none.

``EventFileShipper`` one pass at a time (a line still being written, a bad line, a database that is down, a replay
after a crash, a replaced file), then ``python -m ml_platform.lineage_shipper`` as the platform runs it: started
before the schema exists, it stores what the tasks appended once the schema is there, and ships the rest on SIGTERM.
"""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest

from ml_pipeline.deployment.client import free_port
from ml_pipeline.lineage.shipper import EventFileShipper
from ml_pipeline.lineage.store import LineageStore
from ml_pipeline.stores.schema import create_schema
from ml_platform.lineage_shipper import DATABASE_URL_ENV, offset_file
from tests.support import lineage_events as ev
from tests.support.dashboard import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url():
    with fresh_database("mltest_shipper") as url:
        yield url


@pytest.fixture
def store(database_url):
    create_schema(database_url)
    lineage = LineageStore(database_url)
    yield lineage
    lineage.engine.dispose()


def append(path, *lines: str | dict) -> None:
    """What the file transport does: one write of a JSON line per event, appended."""
    with open(path, "a", encoding="utf-8") as handle:
        for line in lines:
            handle.write(line if isinstance(line, str) else json.dumps(line) + "\n")


def canonical(events: list[dict]) -> list[str]:
    return sorted(json.dumps(e, sort_keys=True) for e in events)


def test_complete_lines_are_stored_a_partial_one_waits_and_a_bad_one_is_skipped_and_named(tmp_path, store, caplog):
    events_file, history = tmp_path / "events.jsonl", ev.history()
    shipper = EventFileShipper(events_file, offset_file(events_file), store, batch_lines=2)
    assert shipper.ship().events == 0 and shipper.pending_bytes() == 0  # no file yet: nothing to do
    append(events_file, *history[:3], "{not json\n", history[3])
    partial = json.dumps(history[4])
    append(events_file, partial[:40])  # a task is writing it now
    with caplog.at_level(logging.WARNING):
        first = shipper.ship()
    assert (first.events, first.skipped) == (4, 1) and store.count() == 4
    assert f"{events_file} at byte " in caplog.text and "not an OpenLineage run event" in caplog.text
    assert shipper.pending_bytes() == 40  # the partial line, read whole once it is
    append(events_file, partial[40:] + "\n", *history[5:])
    assert shipper.ship().events == len(history) - 4
    assert canonical(store.events()) == canonical(history) and shipper.pending_bytes() == 0
    assert shipper.ship().events == 0  # nothing new: nothing stored twice


def test_a_database_that_is_down_keeps_the_offset_and_a_replay_after_a_crash_stores_nothing_twice(tmp_path, store):
    events_file, history = tmp_path / "events.jsonl", ev.history()
    append(events_file, *history)
    down = LineageStore(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/nowhere")
    with pytest.raises(Exception, match="refused|connect"):
        EventFileShipper(events_file, offset_file(events_file), down).ship()
    down.engine.dispose()
    assert not offset_file(events_file).exists()  # nothing was stored: the next pass starts where this one did
    shipper = EventFileShipper(events_file, offset_file(events_file), store)
    assert shipper.ship().events == len(history) and store.count() == len(history)
    offset_file(events_file).unlink()  # killed after the commit, before the offset was saved
    assert shipper.ship().events == len(history) and store.count() == len(history)  # the digest: stored once


def test_a_replaced_or_truncated_file_is_read_from_its_start(tmp_path, store):
    events_file, history = tmp_path / "events.jsonl", ev.history()
    shipper = EventFileShipper(events_file, offset_file(events_file), store)
    append(events_file, *history[:4])
    shipper.ship()
    replacement = tmp_path / "new.jsonl"
    append(replacement, history[4])
    os.replace(replacement, events_file)  # another inode, shorter than the offset
    assert shipper.ship().events == 1 and store.count() == 5
    offset_file(events_file).write_text("{garbage")  # an unreadable offset: start again, the digest dedups
    append(events_file, *history[5:])
    assert shipper.ship().events == len(history) - 4 and store.count() == len(history)


def test_the_shipper_process_waits_for_the_schema_then_ships_and_drains_on_sigterm(tmp_path, database_url):
    events_file, history = tmp_path / "lineage" / "events.jsonl", ev.history()
    events_file.parent.mkdir()
    append(events_file, *history[:5])
    process = subprocess.Popen([sys.executable, "-m", "ml_platform.lineage_shipper", "--events", str(events_file),
                                "--interval", "0.2"], env={**os.environ, DATABASE_URL_ENV: database_url},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.5)  # a few passes refused: the schema is not there yet
        create_schema(database_url)  # what the supervisor does when the platform starts
        store = LineageStore(database_url)
        deadline = time.monotonic() + 30
        while store.count() < 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.count() == 5
        append(events_file, *history[5:])  # then stopped at once: the last pass stores these
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, output
    assert "lineage events wait in" in output and "takes lineage events again" in output
    assert canonical(store.events()) == canonical(history)
    store.engine.dispose()
