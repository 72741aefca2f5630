"""``PlatformDatabaseHook`` on a real PostgreSQL (127.0.0.1:5432) and a real Airflow connection: the schema comes from
the platform's start, the stores only read and write, and an unprepared database is named as such."""

import json
import types
import uuid

import psycopg2
import pytest

from ml_pipeline.deployment.history import DeploymentEvent
from ml_pipeline.failures.dead_letters import DeadLetter
from ml_pipeline.stores.sql import SchemaMissingError
from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
from ml_pipeline_airflow.notifications.dead_letter import DeadLetterNotifier
from ml_platform import database
from ml_platform.layout import Layout

pytestmark = pytest.mark.integration
SERVER = "postgresql://postgres@127.0.0.1:5432"


def admin_connection():
    """An autocommit connection to the server's ``postgres`` database; the test is skipped when there is no server."""
    try:
        conn = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=3)
    except psycopg2.OperationalError as exc:
        pytest.skip(f"no PostgreSQL server on 127.0.0.1:5432 ({exc})")
    conn.autocommit = True
    return conn


@pytest.fixture
def server(monkeypatch):
    """A prefix of its own on the server, for the platform database and the connection to it; dropped after."""
    admin_connection().close()
    prefix = f"mltest_{uuid.uuid4().hex[:8]}_"
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", SERVER)
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", prefix)
    monkeypatch.setenv("AIRFLOW_CONN_ML_PLATFORM_DB", f"{SERVER}/{prefix}ml_platform")
    yield prefix
    database.drop_databases(SERVER, prefix, (database.PLATFORM_DATABASE,))


@pytest.fixture
def started_platform(server, tmp_path):
    """The platform database as ``ml-platform up`` leaves it: created, with its tables."""
    database.ensure_databases(Layout(tmp_path), (database.PLATFORM_DATABASE,))
    return server


def failure_context(run_id: str) -> dict:
    ti = types.SimpleNamespace(dag_id="ml_training_fraud", run_id=run_id, task_id="train_model", map_index=-1,
                               try_number=2, log_url="http://airflow/log")
    return {"ti": ti, "exception": KeyError("amount"), "dag_run": types.SimpleNamespace(conf={"day": "2024-01-02"}),
            "task": None}


def test_the_hook_records_a_dead_letter_and_a_deployment_event(started_platform, tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_DLQ_SPOOL", str(tmp_path / "spool"))
    hook = PlatformDatabaseHook()
    letter_id = hook.dead_letters.add(DeadLetter("ml_training_fraud", "run-1", "train_model", -1, 1, "KeyError",
                                                 "'amount'", model="fraud", conf={"k": 1}))
    event = hook.deployment_history.record(DeploymentEvent(
        "fraud", "promoted", "1", "2", "beats champion", "model_deployment_fraud", "run-7", {"auc": 0.91}))
    DeadLetterNotifier(model="fraud").notify(failure_context("run-2"))  # the failure callback, through the hook
    assert hook.dead_letters.engine is hook.deployment_history.engine
    hook.engine.dispose()

    again = PlatformDatabaseHook()  # another task process: a new hook on the same connection
    letters = again.dead_letters.list(model="fraud")
    assert [(d.id, d.run_id) for d in letters][0] == (letter_id, "run-1")
    assert letters[1].run_id == "run-2" and letters[1].try_number == 2 and letters[1].conf == {"day": "2024-01-02"}
    assert not list((tmp_path / "spool").glob("*.json"))
    [stored] = again.deployment_history.events("fraud")
    assert (stored.id, stored.details, stored.created_at.tzinfo is not None) == (event.id, {"auc": 0.91}, True)
    again.engine.dispose()


def test_starting_the_platform_again_keeps_the_rows_of_its_database(started_platform, tmp_path):
    PlatformDatabaseHook().dead_letters.add(DeadLetter("d", "r", "t", -1, 1, "KeyError", "'amount'"))
    database.ensure_databases(Layout(tmp_path), (database.PLATFORM_DATABASE,))  # the next `ml-platform up`
    hook = PlatformDatabaseHook()
    assert len(hook.dead_letters.list()) == 1
    hook.create_schema()  # idempotent from Airflow's side too
    assert len(hook.dead_letters.list()) == 1
    hook.engine.dispose()


def test_an_unprepared_database_is_named_and_the_failure_callback_spools(server, tmp_path, monkeypatch):
    admin = admin_connection()
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{server}ml_platform"')  # created, but never through the platform's start
    admin.close()
    monkeypatch.setenv("ML_PLATFORM_DLQ_SPOOL", str(tmp_path / "spool"))
    DeadLetterNotifier(model="fraud").notify(failure_context("run-3"))
    [spooled] = (tmp_path / "spool").glob("*.json")
    assert json.loads(spooled.read_text())["run_id"] == "run-3"
    hook = PlatformDatabaseHook()
    with pytest.raises(SchemaMissingError, match="'deployment_events' does not exist .*`ml-platform up`"):
        hook.deployment_history.events("fraud")
    hook.engine.dispose()
