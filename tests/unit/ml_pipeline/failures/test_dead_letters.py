"""The dead-letter store on SQLite: one entry per attempt, no NUL bytes, the spool kept while it cannot be stored."""

import pytest
import sqlalchemy as sa

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore
from ml_pipeline.failures.spool import drain_spool, spool
from ml_pipeline.stores.sql import SchemaMissingError


def letter(try_number: int = 1, **changes) -> DeadLetter:
    fields = {"dag_id": "ml_training_fraud", "run_id": "run-1", "task_id": "train_model", "map_index": -1,
              "try_number": try_number, "exception_type": "KeyError", "exception_message": "'amount'",
              "model": "fraud", "conf": {"k": 1}, "inputs": {"kwargs": {"uri": "file:///x"}}}
    return DeadLetter(**{**fields, **changes})


def test_an_attempt_is_recorded_once_without_nul_bytes_and_changes_state(store):
    first = store.add(letter(exception_message="bad\x00byte"))
    assert store.add(letter()) == first
    second = store.add(letter(try_number=2))
    entry = store.get(first)
    assert entry.exception_message == "badbyte" and entry.conf == {"k": 1} and entry.inputs["kwargs"]["uri"]
    store.mark(second, "replayed", "cleared by ops")
    assert [d.id for d in store.list()] == [first]
    assert [d.status for d in store.list(status=None, model="fraud")] == ["pending", "replayed"]
    with pytest.raises(LookupError, match="no dead letter with id 42"):
        store.get(42)


def test_a_letter_replayed_or_discarded_keeps_its_status_and_note(store):
    """Two operators at once, or a discard after a replay: the second is told what the first did."""
    entry = store.add(letter())
    store.mark(entry, "replayed", "cleared train_model by ann")
    with pytest.raises(ValueError, match=f"dead letter {entry} is already replayed \\(cleared train_model by ann\\)"):
        store.mark(entry, "discarded", "discarded by bob: not needed")
    assert (store.get(entry).status, store.get(entry).note) == ("replayed", "cleared train_model by ann")


def test_a_row_whose_json_was_broken_by_hand_names_its_id_the_column_and_the_repair(store):
    entry = store.add(letter())
    with store.connect(write=True) as conn:
        conn.execute(sa.text("UPDATE dead_letters SET conf = '{mode: permanent' WHERE id = :id"), {"id": entry})
    with pytest.raises(ValueError, match=f"dead_letters row {entry}: column conf holds no JSON .*: repair it in the "
                                         f"database \\(e.g. UPDATE dead_letters SET conf = '{{}}' WHERE id = {entry}"):
        store.list()


def test_spooled_letters_stay_on_disk_while_the_table_does_not_exist(tmp_path):
    spool(letter(), tmp_path / "spool")
    unprepared = DeadLetterStore(f"sqlite:///{tmp_path}/unprepared.db")
    with pytest.raises(SchemaMissingError, match="'dead_letters' does not exist"):
        drain_spool(unprepared, tmp_path / "spool")
    assert len(list((tmp_path / "spool").glob("*.json"))) == 1  # not renamed *.rejected: kept for later
    unprepared.create_schema()
    assert drain_spool(unprepared, tmp_path / "spool").moved == 1


def test_a_later_try_supersedes_the_pending_letter_of_an_earlier_one_which_is_kept(store):
    first = store.add(letter())
    assert store.supersede_older_tries(first) == []
    other_task = store.add(letter(try_number=1, task_id="evaluate_model"))
    second = store.add(letter(try_number=2))
    assert store.supersede_older_tries(second) == [first]
    assert [d.id for d in store.list()] == [other_task, second]
    kept = store.get(first)
    assert kept.status == "discarded" and f"superseded by dead letter {second} (try 2)" in kept.note


def test_a_spooled_letter_moved_in_after_its_successor_is_superseded_at_once(store, tmp_path):
    """The database down when try 1 failed: its letter waits in the spool while Airflow runs try 2, which fails
    and is recorded first; the drain that follows leaves one letter pending, the newest try's."""
    spool(letter(), tmp_path / "spool")
    second = store.add(letter(try_number=2))
    assert drain_spool(store, tmp_path / "spool").moved == 1
    assert [(d.try_number, d.status) for d in store.list(status=None)] == [(2, "pending"), (1, "discarded")]
    assert store.list()[0].id == second
