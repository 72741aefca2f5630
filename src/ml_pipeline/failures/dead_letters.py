"""The dead-letter queue: every task that failed for good, kept in PostgreSQL until someone replays or discards it.

One row per failed task attempt (dag, run, task, map index, try), written by the failure callback in the
worker. Entries only change state (``pending`` → ``replayed`` or ``discarded``); nothing deletes them.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

metadata = sa.MetaData()
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
    sa.UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number", name="dead_letters_attempt"),
)
PENDING, REPLAYED, DISCARDED = "pending", "replayed", "discarded"


@dataclass(frozen=True)
class DeadLetter:
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
    id: int | None = None
    created_at: dt.datetime | None = None
    status: str = PENDING
    status_changed_at: dt.datetime | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return json.loads(json.dumps(asdict(self), default=str))


class DeadLetterStore:
    """Dead letters in one PostgreSQL database (any SQLAlchemy URL)."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url, pool_pre_ping=True)

    def ensure_schema(self) -> None:
        """Create the table when it does not exist."""
        metadata.create_all(self.engine, checkfirst=True)

    def add(self, letter: DeadLetter) -> int:
        """Record a failed attempt; recording the same attempt twice keeps the first record. Return its id."""
        self.ensure_schema()
        row = {**{k: v for k, v in asdict(letter).items() if k not in {"id", "created_at", "status_changed_at"}},
               "conf": json.dumps(letter.conf or {}, default=str),
               "inputs": json.dumps(letter.inputs or {}, default=str), "created_at": dt.datetime.now(dt.UTC)}
        key = {k: row[k] for k in ("dag_id", "run_id", "task_id", "map_index", "try_number")}
        with self.engine.begin() as conn:
            existing = conn.execute(sa.select(dead_letters.c.id).filter_by(**key)).scalar()
            if existing is not None:
                return existing
            return conn.execute(dead_letters.insert().values(**row).returning(dead_letters.c.id)).scalar_one()

    def list(self, status: str | None = PENDING, model: str | None = None) -> list[DeadLetter]:
        """Entries, oldest first; ``status=None`` lists every entry."""
        self.ensure_schema()
        query = sa.select(dead_letters).order_by(dead_letters.c.id)
        if status:
            query = query.where(dead_letters.c.status == status)
        if model:
            query = query.where(dead_letters.c.model == model)
        with self.engine.connect() as conn:
            return [_letter(row) for row in conn.execute(query).mappings()]

    def get(self, letter_id: int) -> DeadLetter:
        """One entry; ``LookupError`` naming the id when there is none."""
        self.ensure_schema()
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(dead_letters).where(dead_letters.c.id == letter_id)).mappings().first()
        if row is None:
            raise LookupError(f"no dead letter with id {letter_id}; see `ml-pipeline dlq list --all`")
        return _letter(row)

    def mark(self, letter_id: int, status: str, note: str) -> DeadLetter:
        """Move an entry to ``replayed`` or ``discarded`` with a note (what was done, by whom)."""
        self.get(letter_id)
        with self.engine.begin() as conn:
            conn.execute(dead_letters.update().where(dead_letters.c.id == letter_id).values(
                status=status, status_changed_at=dt.datetime.now(dt.UTC), note=note))
        return self.get(letter_id)


def _letter(row: Any) -> DeadLetter:
    data = dict(row)
    data["conf"], data["inputs"] = json.loads(data["conf"] or "{}"), json.loads(data["inputs"] or "{}")
    return DeadLetter(**data)
