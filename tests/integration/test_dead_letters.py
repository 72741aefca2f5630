"""The dead-letter queue on the platform's real PostgreSQL: durable, idempotent per attempt, never deleted.

The tables come from the platform's start (``database.ensure_databases``, run by the ``services`` fixture as by
``ml-platform up``): no store here creates one.
"""

import pytest

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore, drain_spool, spool
from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
from ml_platform import database

pytestmark = pytest.mark.integration


def letter(run_id: str, try_number: int = 1, **changes) -> DeadLetter:
    fields = {"dag_id": "ml_training_fraud_detection", "run_id": run_id, "task_id": "train_model", "map_index": -1,
              "try_number": try_number, "exception_type": "KeyError", "exception_message": "'amount'",
              "model": "fraud_detection", "conf": {"k": 1}, "inputs": {"kwargs": {"features": {"uri": "file:///x"}}}}
    return DeadLetter(**{**fields, **changes})


def test_entries_survive_a_new_connection_and_change_state_but_are_never_deleted(services):
    layout, _ = services
    url = database.database_url(layout, "ml_platform")
    first = DeadLetterStore(url)
    letter_id = first.add(letter("run-a"))
    assert first.add(letter("run-a")) == letter_id  # the same attempt recorded twice stays one entry
    other_try = first.add(letter("run-a", try_number=2))
    first.engine.dispose()

    again = DeadLetterStore(url)  # as after a restart of every component
    pending = [d for d in again.list() if d.run_id == "run-a"]
    assert [d.id for d in pending] == [letter_id, other_try]
    assert pending[0].conf == {"k": 1} and pending[0].inputs["kwargs"]["features"]["uri"] == "file:///x"
    discarded = again.mark(other_try, "discarded", "duplicate of the first try")
    assert (discarded.status, discarded.note) == ("discarded", "duplicate of the first try")
    assert [d.id for d in again.list() if d.run_id == "run-a"] == [letter_id]
    assert {d.id for d in again.list(status=None) if d.run_id == "run-a"} == {letter_id, other_try}
    with pytest.raises(LookupError, match="no dead letter with id 999999"):
        again.get(999_999)


def test_entries_written_while_the_database_is_down_are_spooled_then_moved_in(services, tmp_path):
    layout, _ = services
    down = DeadLetterStore("postgresql+psycopg2://nobody@127.0.0.1:1/ml_platform?connect_timeout=2")
    with pytest.raises(Exception, match="Connection refused|could not connect"):
        down.add(letter("run-spooled"))
    path = spool(letter("run-spooled"), tmp_path / "spool")
    assert path.exists()
    store = DeadLetterStore(database.database_url(layout, "ml_platform"))
    assert drain_spool(store, tmp_path / "spool") == 1
    assert not list((tmp_path / "spool").glob("*.json"))
    [moved] = [d for d in store.list() if d.run_id == "run-spooled"]
    assert moved.inputs["kwargs"]["features"]["uri"] == "file:///x"


def test_the_hook_on_the_platforms_own_connection_writes_where_the_commands_read(services, monkeypatch):
    layout, _ = services
    # the connection the platform gives every component: the embedded server's socket folder as host
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", database.airflow_connection(layout, "ml_platform"))
    hook = PlatformDatabaseHook()
    letter_id = hook.dead_letters.add(letter("run-hook"))
    hook.engine.dispose()
    [read] = [d for d in DeadLetterStore(database.database_url(layout, "ml_platform")).list() if d.run_id == "run-hook"]
    assert read.id == letter_id
