"""The stores' base: one engine setup, the schema created once (an older database keeps its rows), clear errors."""

import pytest
import sqlalchemy as sa

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory
from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore
from ml_pipeline.stores.schema import create_schema
from ml_pipeline.stores.sql import CONNECT_TIMEOUT_S, SchemaMissingError, engine_options


def test_postgresql_engines_get_a_connect_timeout_unless_the_url_sets_one():
    assert engine_options("postgresql+psycopg2://u@db/ml_platform") == {
        "pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S}}
    assert engine_options("postgresql://u@db/ml_platform?connect_timeout=2")["connect_args"] == {}
    assert engine_options("sqlite://") == {"pool_pre_ping": True, "connect_args": {}}


def test_the_schema_is_created_once_for_every_store_and_keeps_existing_rows(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/platform.db")
    create_schema(engine)
    history, letters = DeploymentHistory(engine), DeadLetterStore(engine)
    history.record(DeploymentEvent("fraud", "promoted", None, "1", "first model", "dep", "run-1"))
    letters.add(DeadLetter("dag", "run", "task", -1, 1, "KeyError", "'amount'"))
    create_schema(f"sqlite:///{tmp_path}/platform.db")  # a platform started again on its old database
    assert [e.to_version for e in history.events("fraud")] == ["1"]
    assert len(letters.list()) == 1
    assert history.engine is letters.engine


def test_a_store_on_an_unprepared_database_names_the_table_and_the_fix(tmp_path):
    with pytest.raises(SchemaMissingError) as raised:
        DeadLetterStore(f"sqlite:///{tmp_path}/empty.db").add(DeadLetter("d", "r", "t", -1, 1, "E", "m"))
    assert "'dead_letters' does not exist" in str(raised.value) and "create_schema()" in str(raised.value)


def test_an_unreachable_database_keeps_its_own_error():
    store = DeadLetterStore("postgresql+psycopg2://nobody@127.0.0.1:1/ml_platform")
    with pytest.raises(sa.exc.OperationalError):
        store.list()
