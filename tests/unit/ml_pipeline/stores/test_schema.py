"""The platform database's schema grows in place: a table made by an older release gets the newer columns."""

import datetime as dt

import sqlalchemy as sa

from ml_pipeline.failures.dead_letters import ATTEMPT, DeadLetter, DeadLetterStore, dead_letters
from ml_pipeline.stores.schema import create_schema

NEWER_COLUMNS = ("logical_date", "data_interval_start", "data_interval_end")  # the replay dates (issue #20)


def older_dead_letters_table(engine: sa.Engine) -> None:
    """``dead_letters`` as the release before the replay dates made it, holding one letter."""
    older = sa.Table("dead_letters", sa.MetaData(),
                     *[column._copy() for column in dead_letters.columns if column.name not in NEWER_COLUMNS],
                     sa.UniqueConstraint(*ATTEMPT, name="dead_letters_attempt"))
    older.create(engine)
    with engine.begin() as conn:
        conn.execute(older.insert().values(created_at=dt.datetime.now(dt.UTC), dag_id="d", run_id="old", task_id="t",
                                           try_number=1, exception_type="E", exception_message="m"))


def test_a_dead_letter_table_of_an_older_release_gets_the_replay_dates_and_keeps_its_rows(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path}/platform.db")
    older_dead_letters_table(engine)

    create_schema(engine)
    create_schema(engine)  # a second start finds nothing to add

    assert set(NEWER_COLUMNS) <= {column["name"] for column in sa.inspect(engine).get_columns("dead_letters")}
    store = DeadLetterStore(engine)
    start = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    store.add(DeadLetter(dag_id="d", run_id="new", task_id="t", map_index=-1, try_number=1, exception_type="E",
                         exception_message="m", logical_date=start, data_interval_start=start))
    letters = {letter.run_id: letter for letter in store.list()}
    assert set(letters) == {"old", "new"}
    assert letters["old"].logical_date is None
    assert letters["new"].data_interval_start.replace(tzinfo=dt.UTC) == start
    engine.dispose()
