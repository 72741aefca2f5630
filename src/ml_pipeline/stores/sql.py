"""``SqlStore``: what every table of the platform database shares — the engine, the metadata, rows as dataclasses.

Stores never create tables: the platform creates its schema once when it starts (``ml_pipeline.stores.schema``).
A store used on a database without its table says so (``SchemaMissingError``) instead of a driver error.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa

from ml_pipeline.errors import PermanentError

metadata = sa.MetaData()  # every table of the platform database (``ml_platform``)
# A host that drops packets must not hold up the alerts sent after a DLQ write: give up after 5 s (then spool).
CONNECT_TIMEOUT_S = 5
Record = TypeVar("Record")


class SchemaMissingError(PermanentError, RuntimeError):
    """The store's table does not exist: the platform database was never prepared (retrying cannot help)."""

    def __init__(self, table: str, url: sa.URL) -> None:
        super().__init__(
            f"table {table!r} does not exist in {url.render_as_string()}: the platform creates its tables when it "
            "starts (`ml-platform up`); a database prepared another way needs `create_schema()` "
            "(ml_pipeline.stores.schema, or PlatformDatabaseHook().create_schema() in Airflow) run once")


class StoredRecord:
    """Mixin of a store's row dataclass: ``to_dict`` for JSON output (CLI, XCom)."""

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able data."""
        return json.loads(json.dumps(asdict(self), default=str))


def engine_options(url: str | sa.URL) -> dict[str, Any]:
    """Keyword arguments of ``sqlalchemy.create_engine`` for a store: pre-ping, and a connect timeout on PostgreSQL."""
    url = sa.make_url(url)
    timeout = url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query
    return {"pool_pre_ping": True, "connect_args": {"connect_timeout": CONNECT_TIMEOUT_S} if timeout else {}}


def create_engine(url: str | sa.URL) -> sa.Engine:
    """An engine with the stores' options (see ``engine_options``)."""
    return sa.create_engine(url, **engine_options(url))


class SqlStore(Generic[Record]):
    """Base of a store over one table whose rows are the dataclass ``record_type``.

    Subclasses set ``table``, ``record_type`` and the columns that hold JSON (``json_columns``).
    """

    table: ClassVar[sa.Table]
    record_type: ClassVar[type]
    json_columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, database: str | sa.URL | sa.Engine) -> None:
        """Open the store on an engine (shared with other stores) or on a SQLAlchemy URL."""
        self.engine = database if isinstance(database, sa.Engine) else create_engine(database)

    def create_schema(self) -> None:
        """Create this store's table when it does not exist (existing rows are kept)."""
        self.table.create(self.engine, checkfirst=True)

    @contextlib.contextmanager
    def connect(self, write: bool = False) -> Iterator[sa.Connection]:
        """A connection (a transaction when ``write``), turning a missing table into ``SchemaMissingError``."""
        with self.engine.begin() if write else self.engine.connect() as conn:
            try:
                yield conn
            except sa.exc.DBAPIError as exc:  # the database answers (connecting worked): is the table there?
                if self._table_missing():
                    raise SchemaMissingError(self.table.name, self.engine.url) from exc
                raise

    def insert_once(self, conn: sa.Connection, record: Record, key: Sequence[str]) -> int:
        """Insert ``record`` unless a row with the same ``key`` columns exists (a retried task); return the row's id."""
        row = self.to_row(record)
        if key:
            existing = conn.execute(sa.select(self.table.c.id).filter_by(**{k: row[k] for k in key})).scalar()
            if existing is not None:
                return existing
        return conn.execute(self.table.insert().values(**row).returning(self.table.c.id)).scalar_one()

    def fetch(self, conn: sa.Connection, row_id: int) -> Record | None:
        """The record with id ``row_id``, or None."""
        row = conn.execute(sa.select(self.table).where(self.table.c.id == row_id)).mappings().first()
        return None if row is None else self.from_row(row)

    def to_row(self, record: Record) -> dict[str, Any]:
        """Column values of a new row: the record's fields (JSON columns encoded), stamped with the time now."""
        row = {k: v for k, v in asdict(record).items() if k in self.table.c and k != "id"}
        row.update({name: json.dumps(row[name] or {}, default=str) for name in self.json_columns})
        return {**row, "created_at": dt.datetime.now(dt.UTC)}

    def from_row(self, row: Any) -> Record:
        """The record a row holds (JSON columns decoded)."""
        data = dict(row)
        for name in self.json_columns:
            try:
                data[name] = json.loads(data[name] or "{}")
            except json.JSONDecodeError as exc:
                raise ValueError(f"{self.table.name} row {data.get('id')}: column {name} holds no JSON ({exc}): "
                                 f"repair it in the database (e.g. UPDATE {self.table.name} SET {name} = '{{}}' WHERE "
                                 f"id = {data.get('id')})") from None
        return self.record_type(**data)

    def _table_missing(self) -> bool:
        try:
            return not sa.inspect(self.engine).has_table(self.table.name)
        except sa.exc.DBAPIError:
            return False  # the database itself is unreachable: its own error says more
