"""The dead-letter queue on the platform's real PostgreSQL: durable, idempotent per attempt, never deleted.

The tables come from the platform's start (``database.ensure_databases``, run by the ``services`` fixture as by
``ml-platform up``): no store here creates one.
"""

import datetime as dt
import threading
import types
import uuid

import psycopg2
import pytest

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore, dead_letters
from ml_pipeline.failures.spool import drain_spool, spool
from ml_pipeline.stores.schema import create_schema
from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
from ml_pipeline_airflow.notifications.dead_letter import DeadLetterNotifier
from ml_pipeline_airflow.tasks.platform_health import drain_dead_letter_spool
from ml_platform import database

pytestmark = pytest.mark.integration
SERVER = "postgresql://postgres@127.0.0.1:5432"
DOWN = "postgresql://postgres@127.0.0.1:1/ml_platform"  # nothing listens: connection refused at once


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
    assert drain_spool(store, tmp_path / "spool").moved == 1
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


@pytest.fixture
def platform_db():
    """A database of its own on the real server (127.0.0.1:5432) with the platform's tables; dropped after."""
    try:
        admin = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc})")
    admin.autocommit = True
    name = f"mltest_dlq_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    create_schema(f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}")
    yield f"{SERVER}/{name}"
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def failure_context(run_id: str, try_number: int = 1) -> dict:
    """What Airflow hands the failure callback (the fields ``DeadLetterNotifier`` reads)."""
    ti = types.SimpleNamespace(dag_id="ml_training_fraud", run_id=run_id, task_id="train_model", map_index=-1,
                               try_number=try_number, log_url="http://airflow/log")
    day = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    run = types.SimpleNamespace(conf={"day": "2024-01-02"}, logical_date=day, data_interval_start=day - dt.timedelta(1),
                                data_interval_end=day)
    return {"ti": ti, "exception": KeyError("amount"), "dag_run": run, "task": None}


def test_letters_spooled_while_the_database_was_down_are_drained_by_the_health_task_once(platform_db, tmp_path,
                                                                                          monkeypatch):
    spooled = tmp_path / "spool"
    monkeypatch.setenv("ML_PLATFORM_DLQ_SPOOL", str(spooled))
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", DOWN)
    for context in (failure_context("run-a"), failure_context("run-a"), failure_context("run-b")):
        DeadLetterNotifier(model="fraud").notify(context)  # the callback's own path: unreachable, so spooled
    assert len(list(spooled.glob("*.json"))) == 3  # run-a written twice (two callbacks of the same attempt)
    (spooled / "20240102T000000-torn.json").write_text('{"dag_id": "ml_training_fraud", "run_')  # a full disk

    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", platform_db)  # the database is back
    store = PlatformDatabaseHook().dead_letters
    finding = drain_dead_letter_spool(store)  # what check_platform runs first, every health run
    assert (finding.check, finding.status, finding.data["moved"]) == ("dead_letter_spool", "warn", 3)
    assert "1 spooled dead letter(s) cannot be read" in finding.message
    assert "20240102T000000-torn.json" in finding.message
    letters = store.list(model="fraud")
    assert sorted(d.run_id for d in letters) == ["run-a", "run-b"]  # one row per attempt
    assert letters[0].conf == {"day": "2024-01-02"}
    assert letters[0].logical_date == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert list(spooled.glob("*.json")) == [] and list(spooled.glob("*.claim-*")) == []
    assert (spooled / "rejected" / "20240102T000000-torn.json").exists()
    assert "not JSON" in (spooled / "rejected" / "20240102T000000-torn.reason").read_text()
    again = drain_dead_letter_spool(store)  # the next run: nothing new, the torn file still reported
    assert (again.status, again.data["moved"], again.value) == ("warn", 0, 1.0)
    store.engine.dispose()


def test_the_same_attempt_written_by_two_writers_at_once_is_one_row(platform_db):
    url = platform_db.replace("postgresql://", "postgresql+psycopg2://")
    first, second = DeadLetterStore(url), DeadLetterStore(url)
    with first.engine.begin() as conn:  # the first writer has inserted, not yet committed
        conn.execute(dead_letters.insert().values(**first.to_row(letter("run-race"))))
        result: dict = {}
        writer = threading.Thread(target=lambda: result.update(id=second.add(letter("run-race"))))
        writer.start()
        writer.join(timeout=1)
        assert writer.is_alive()  # the second waits on the unique key...
    writer.join(timeout=10)  # ... and, once the first commits, takes its row instead of failing
    assert [d.id for d in first.list()] == [result["id"]]
    first.engine.dispose()
    second.engine.dispose()


def test_two_drains_at_once_store_every_spooled_letter_once(platform_db, tmp_path):
    url = platform_db.replace("postgresql://", "postgresql+psycopg2://")
    for n in range(30):
        spool(letter(f"run-{n}"), tmp_path / "spool")
    stores, start, drained = [DeadLetterStore(url), DeadLetterStore(url)], threading.Barrier(2), []

    def drain(store: DeadLetterStore) -> None:
        start.wait()
        drained.append(drain_spool(store, tmp_path / "spool"))

    workers = [threading.Thread(target=drain, args=(store,)) for store in stores]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert sum(d.moved for d in drained) == 30 and [d.rejected for d in drained] == [{}, {}]
    assert sorted(d.run_id for d in stores[0].list()) == sorted(f"run-{n}" for n in range(30))
    assert list((tmp_path / "spool").iterdir()) == []
    for store in stores:
        store.engine.dispose()


def test_a_second_failure_callback_for_the_same_attempt_is_told_it_is_a_repeat(platform_db, tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DLQ_SPOOL", str(tmp_path / "spool"))
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", platform_db)
    first, second = failure_context("run-twice", try_number=4), failure_context("run-twice", try_number=4)
    DeadLetterNotifier(model="fraud").notify(first)
    DeadLetterNotifier(model="fraud").notify(second)  # Airflow's second callback for a task lost on its last try
    assert first["dead_letter"]["new"] is True and second["dead_letter"] == {"id": first["dead_letter"]["id"],
                                                                              "new": False, "repeat": True}
    hook = PlatformDatabaseHook()
    assert [d.try_number for d in hook.dead_letters.list()] == [4]
    with hook.engine.begin() as conn:  # an hour later, a run that reused the run id fails the same try: alerted
        conn.execute(dead_letters.update().values(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    reused = failure_context("run-twice", try_number=4)
    DeadLetterNotifier(model="fraud").notify(reused)
    assert reused["dead_letter"] == {"id": first["dead_letter"]["id"], "new": False, "repeat": False}
    hook.engine.dispose()


def test_a_letter_with_no_database_and_no_usable_spool_is_written_whole_into_the_task_log(tmp_path, monkeypatch,
                                                                                          capsys):
    """The last copy: a spool folder anyone may write to is refused (planted letters), and the database is down."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    monkeypatch.setenv("ML_PLATFORM_DLQ_SPOOL", str(shared))
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", DOWN)
    context = failure_context("run-nowhere")
    DeadLetterNotifier(model="fraud").notify(context)  # raises nothing: the alerts still go out after it
    assert context["dead_letter"] == {"id": None, "new": True} and list(shared.iterdir()) == []
    [lost] = [line for line in capsys.readouterr().out.splitlines() if "DEAD LETTER NOT STORED" in line]
    assert '"run_id": "run-nowhere"' in lost and '"exception_type": "KeyError"' in lost
