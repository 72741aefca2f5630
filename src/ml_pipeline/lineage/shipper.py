"""Ship the file transport's OpenLineage events into the platform database, from a saved offset.

Tasks write each event as one JSON line to ``<home>/lineage/events.jsonl`` (the provider's file transport appends
it in a single write) and go on; nothing in a task waits for a database or an HTTP answer. The shipper reads the
complete lines appended since its saved offset, stores them in batches through ``LineageStore.add_many`` (one
transaction each), and saves the offset only after the batch is committed. So:

- a database that is down loses nothing: the offset stays where it was, and the next pass stores the batch;
- a shipper killed between the commit and the offset's save stores the batch again, which the digest makes a no-op;
- a line still being written (no newline yet) waits for the next pass;
- a line that is not an OpenLineage run event is logged with its byte offset and skipped (the file keeps it);
- a file replaced or truncated (another inode, or shorter than the offset) is read again from its start.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.lineage.store import event_row

if TYPE_CHECKING:
    from ml_pipeline.lineage.store import LineageStore

log = logging.getLogger(__name__)
BATCH_LINES = 500


@dataclass(frozen=True)
class Position:
    """How far a file has been shipped: its inode (a replaced file starts again) and the byte offset."""

    inode: int
    offset: int


@dataclass(frozen=True)
class Shipped:
    """One pass: events handed to the store (new or already there), lines skipped, and where the pass ended."""

    events: int
    skipped: int
    offset: int


class EventFileShipper:
    """Ships one JSON-lines events file into a ``LineageStore``; ``ship()`` is one pass over what is new."""

    def __init__(self, events_file: Path, offset_file: Path, store: LineageStore,
                 batch_lines: int = BATCH_LINES) -> None:
        """Ship ``events_file`` into ``store``, keeping the position in ``offset_file`` (JSON; made on first save)."""
        self.events_file, self.offset_file, self.store, self.batch_lines = events_file, offset_file, store, batch_lines

    def position(self) -> Position | None:
        """The saved position, or None (never shipped, or an unreadable offset file: start again, the digest dedups)."""
        try:
            saved = json.loads(self.offset_file.read_text())
            return Position(int(saved["inode"]), int(saved["offset"]))
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s is unreadable (%s): shipping %s from its start", self.offset_file, exc, self.events_file)
            return None

    def pending_bytes(self) -> int:
        """Bytes appended since the saved offset (0 when there is no events file yet)."""
        try:
            stat = self.events_file.stat()
        except FileNotFoundError:
            return 0
        return stat.st_size - self._start(stat)

    def ship(self) -> Shipped:
        """Store every complete line appended since the saved offset, a batch per transaction.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The database refused a batch; the offset stays before it.
        """
        try:
            handle = self.events_file.open("rb")
        except FileNotFoundError:
            return Shipped(0, 0, 0)
        with handle:
            stat = os.fstat(handle.fileno())
            offset = self._start(stat)
            handle.seek(offset)
            shipped = skipped = 0
            batch: list[dict] = []
            end = offset
            for line in handle:
                if not line.endswith(b"\n"):  # still being written: the next pass reads it whole
                    break
                event = self._event(line, end)
                end += len(line)
                if event is None:
                    skipped += 1
                else:
                    batch.append(event)
                if len(batch) >= self.batch_lines:
                    shipped += self._store(batch, stat.st_ino, end)
                    batch = []
            if batch or end != offset:
                shipped += self._store(batch, stat.st_ino, end)
        return Shipped(shipped, skipped, end)

    def _start(self, stat: os.stat_result) -> int:
        saved = self.position()
        if saved is None or saved.inode != stat.st_ino or saved.offset > stat.st_size:
            return 0
        return saved.offset

    def _event(self, line: bytes, offset: int) -> dict | None:
        if not line.strip():
            return None
        try:
            event = json.loads(line)
            event_row(event)
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning("%s at byte %d: skipped, not an OpenLineage run event (%s)", self.events_file, offset,
                        str(exc)[:200])
            return None
        return event

    def _store(self, batch: list[dict], inode: int, end: int) -> int:
        self.store.add_many(batch)
        self._save(Position(inode, end))
        return len(batch)

    def _save(self, position: Position) -> None:
        partial = self.offset_file.with_name(self.offset_file.name + ".tmp")
        partial.write_text(json.dumps({"inode": position.inode, "offset": position.offset}))
        os.replace(partial, self.offset_file)
