"""The dead-letter queue: every task that failed for good, kept in PostgreSQL until someone replays or discards it.

One row per failed task attempt (dag, run, task, map index, try), written by the failure callback (in the
worker, or in the dag-processor for a task whose worker died); written twice, it stays one row. The run's logical
date and data interval are kept so that a replay of a run deleted since runs for the same dates. Entries only
change state (``pending`` → ``replayed`` or ``discarded``); nothing deletes them. Letters written while the database
is down wait in the spool (``ml_pipeline.failures.spool``).

One letter per task instance stays pending: when the task ran again after a failure recorded here and failed
again (Airflow re-runs a task whose "failed" report the database never got; someone cleared it), the later try's
letter supersedes the earlier one (``supersede_older_tries``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from ml_pipeline.stores.sql import SqlStore, StoredRecord, metadata

dead_letters = sa.Table(
    "dead_letters", metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200)),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("task_id", sa.String(250), nullable=False),
    sa.Column("map_index", sa.Integer, nullable=False, server_default="-1"),
    sa.Column("try_number", sa.Integer, nullable=False),
    sa.Column("exception_type", sa.String(250), nullable=False),
    sa.Column("exception_message", sa.Text, nullable=False),
    sa.Column("conf", sa.Text, nullable=False, server_default="{}"),
    sa.Column("inputs", sa.Text, nullable=False, server_default="{}"),
    sa.Column("log_url", sa.Text),
    sa.Column("status", sa.String(20), nullable=False, server_default="pending"),
    sa.Column("status_changed_at", sa.DateTime(timezone=True)),
    sa.Column("note", sa.Text),
    sa.Column("logical_date", sa.DateTime(timezone=True)),
    sa.Column("data_interval_start", sa.DateTime(timezone=True)),
    sa.Column("data_interval_end", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="dead_letters_attempt"),
)
PENDING, REPLAYED, DISCARDED = "pending", "replayed", "discarded"
# the asset events that started the letter's run (``[{"uri", "extra"}]``), kept in its ``inputs``: a replay of a run
# gone by then passes on what they said (the version to deploy, the days of features computed)
ASSET_EVENTS = "triggering_asset_events"
ATTEMPT = ("dag_id", "run_id", "task_id", "map_index", "try_number")  # one entry per failed attempt
INSERT_IGNORING_CONFLICTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


@dataclass(frozen=True)
class DeadLetter(StoredRecord):
    """One task attempt that failed for good, with what is needed to understand and replay it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    exception_type: str
    exception_message: str
    model: str | None = None
    conf: dict[str, Any] | None = None
    inputs: dict[str, Any] | None = None
    log_url: str | None = None
    logical_date: dt.datetime | None = None
    data_interval_start: dt.datetime | None = None
    data_interval_end: dt.datetime | None = None
    id: int | None = None
    created_at: dt.datetime | None = None
    status: str = PENDING
    status_changed_at: dt.datetime | None = None
    note: str | None = None


class DeadLetterStore(SqlStore[DeadLetter]):
    """Dead letters in the platform database (``ml_platform``); its table is made by ``create_schema``."""

    table = dead_letters
    record_type = DeadLetter
    json_columns = ("conf", "inputs")

    def add(self, letter: DeadLetter) -> int:
        """Record a failed attempt; recording the same attempt twice keeps the first record. Return its id."""
        return self.record(letter)[0]

    def record(self, letter: DeadLetter) -> tuple[int, bool]:
        """Record a failed attempt; return its id and whether this call recorded it (False: it was already there).

        Safe when two writers record the same attempt at once (two drains of one spool file, the two failure
        callbacks Airflow sends for a task lost on its last try): the database's unique key decides
        (``ON CONFLICT DO NOTHING``), so neither fails, one row is left and exactly one writer is told it was first.
        """
        letter = _without_nul(letter)
        with self.connect(write=True) as conn:
            insert = INSERT_IGNORING_CONFLICTS.get(conn.dialect.name)
            row = self.to_row(letter)
            if insert is None:
                existing = conn.execute(sa.select(dead_letters.c.id).filter_by(**{k: row[k] for k in ATTEMPT}))
                found = existing.scalar()
                return (found, False) if found is not None else (self.insert_once(conn, letter, ATTEMPT), True)
            new_id = conn.execute(insert(dead_letters).values(**row).on_conflict_do_nothing(index_elements=ATTEMPT)
                                  .returning(dead_letters.c.id)).scalar()
            if new_id is not None:
                return new_id, True
            found = conn.execute(sa.select(dead_letters.c.id).filter_by(**{k: row[k] for k in ATTEMPT})).scalar_one()
            return found, False

    def supersede_older_tries(self, letter_id: int) -> list[int]:
        """Leave pending only the newest try's letter of the task instance ``letter_id`` records; return the others.

        The letters of its earlier tries still pending are marked ``discarded`` with a note naming the newest one:
        kept, but no longer work to do. Whichever is recorded first (a spooled letter may be moved in after the
        letter of the try that followed it), the newest try's letter is the one left pending. No lock is needed:
        every writer calls this after its own letter is committed, so the last writer sees every letter, and each
        caller discards only letters older than the newest it saw.
        """
        letter = self.get(letter_id)
        instance = [dead_letters.c[name] == getattr(letter, name) for name in ATTEMPT[:-1]]
        with self.connect(write=True) as conn:
            pending = conn.execute(sa.select(dead_letters.c.id, dead_letters.c.try_number)
                                   .where(*instance, dead_letters.c.status == PENDING)).all()
            if len(pending) < 2:
                return []
            newest = max(pending, key=lambda row: (row.try_number, row.id))
            older = sorted(row.id for row in pending if row.id != newest.id)
            conn.execute(dead_letters.update().where(dead_letters.c.id.in_(older)).values(
                status=DISCARDED, status_changed_at=dt.datetime.now(dt.UTC),
                note=f"superseded by dead letter {newest.id} (try {newest.try_number}): the task ran again after "
                     "this try failed (Airflow retried it when the failure's report was lost, or it was cleared)"))
        return older

    def list(self, status: str | None = PENDING, model: str | None = None) -> list[DeadLetter]:
        """Entries, oldest first; ``status=None`` lists every entry."""
        query = sa.select(dead_letters).order_by(dead_letters.c.id)
        if status:
            query = query.where(dead_letters.c.status == status)
        if model:
            query = query.where(dead_letters.c.model == model)
        with self.connect() as conn:
            return [self.from_row(row) for row in conn.execute(query).mappings()]

    def pending_counts(self) -> dict[str | None, int]:
        """Pending entries per model (None: an entry without one), counted by the database."""
        query = (sa.select(dead_letters.c.model, sa.func.count()).where(dead_letters.c.status == PENDING)
                 .group_by(dead_letters.c.model))
        with self.connect() as conn:
            return {model: count for model, count in conn.execute(query)}

    def get(self, letter_id: int) -> DeadLetter:
        """One entry; ``LookupError`` naming the id when there is none."""
        with self.connect() as conn:
            letter = self.fetch(conn, letter_id)
        if letter is None:
            raise LookupError(f"no dead letter with id {letter_id}; see `ml-pipeline dlq list --all`")
        return letter

    def mark(self, letter_id: int, status: str, note: str) -> DeadLetter:
        """Move a pending entry to ``replayed`` or ``discarded`` with a note (what was done, by whom).

        Only a pending one: an entry replayed, discarded or superseded keeps its status and note (two operators at
        once: the second is told what the first did).
        """
        self.get(letter_id)
        with self.connect(write=True) as conn:
            moved = conn.execute(dead_letters.update().where(
                dead_letters.c.id == letter_id, dead_letters.c.status == PENDING).values(
                status=status, status_changed_at=dt.datetime.now(dt.UTC), note=note)).rowcount
        letter = self.get(letter_id)
        if not moved:
            raise ValueError(f"dead letter {letter_id} is already {letter.status} ({letter.note}): left as it is")
        return letter


def _without_nul(letter: DeadLetter) -> DeadLetter:
    """The letter without NUL bytes in its text: PostgreSQL text cannot hold them."""
    fields_with_text = {k: v.replace("\x00", "") for k, v in asdict(letter).items() if isinstance(v, str)}
    return DeadLetter(**{**asdict(letter), **fields_with_text})

