"""The dead-letter spool: letters kept on local disk while the database cannot take them, moved in later.

The failure callback spools when the platform database is unreachable; its next successful write,
``monitoring_ml_pipelines`` (``check_platform``, every run) and ``ml-pipeline dlq`` drain. Draining is safe
anywhere at once: a file is claimed by an atomic rename before it is read, the store keeps one row per attempt
whatever writes it twice, and a claim left by a drainer that died is taken over after ``STALE_CLAIM_S``. A file
that is no dead letter is moved to ``rejected/`` with a ``.reason`` file beside it: kept for a person, never
retried, never deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore
from ml_pipeline.stores.sql import SchemaMissingError

SPOOL_ENV = "ML_PLATFORM_DLQ_SPOOL"
STALE_CLAIM_S = 600.0  # a claim older than this belongs to a drainer that died: take it over
REJECTED = "rejected"
TEXT_FIELDS = ("dag_id", "run_id", "task_id", "exception_type", "exception_message")
OPTIONAL_TEXT = ("model", "log_url")
DATES = ("logical_date", "data_interval_start", "data_interval_end")
DATABASE_DOWN = (sa.exc.OperationalError, sa.exc.InterfaceError, SchemaMissingError)
log = logging.getLogger(__name__)


@dataclass
class SpoolDrain:
    """What one drain did: letters moved into the store, and files newly set aside (name → why)."""

    moved: int = 0
    rejected: dict[str, str] = field(default_factory=dict)


def spool_folder() -> Path:
    """Where dead letters wait: ``ML_PLATFORM_DLQ_SPOOL``, else ``$XDG_STATE_HOME/ml-platform/dlq-spool``.

    The default is the user's own state directory (``~/.local/state``), never a shared temporary folder that
    another user could create first.
    """
    if os.environ.get(SPOOL_ENV):
        return Path(os.environ[SPOOL_ENV])
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "ml-platform" / "dlq-spool"


def check_private(folder: Path) -> None:
    """Refuse a spool folder that another user owns or that anyone may write to (planted or stolen letters)."""
    info = folder.stat()
    if info.st_uid not in (os.getuid(), 0) or info.st_mode & 0o002:
        raise PermissionError(
            f"dead-letter spool {folder} is owned by uid {info.st_uid} with mode {info.st_mode & 0o777:o}: it must "
            f"belong to this user (uid {os.getuid()}) and not be writable by others; remove it, or set {SPOOL_ENV} "
            "to a folder of this user's")


def spool(letter: DeadLetter, folder: Path) -> Path:
    """Keep a dead letter in a file of its own (mode 0600, folder 0700) until a drain moves it into the store."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    check_private(folder)
    path = folder / f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}.json"
    tmp = folder / f".{path.stem}.tmp"  # not *.json: a drain never reads a half-written file
    descriptor = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(json.dumps(asdict(letter), default=str))
    tmp.rename(path)
    return path


def drain_spool(store: DeadLetterStore, folder: Path, stale_claim_s: float = STALE_CLAIM_S) -> SpoolDrain:
    """Move the spooled dead letters into ``store``, each file deleted only once its row exists.

    While the database is down (or not prepared) every file stays for the next drain and the error is raised.
    """
    drained = SpoolDrain()
    if not folder.is_dir():
        return drained
    check_private(folder)
    for claimed, name in _claims(folder, stale_claim_s):
        try:
            letter_id = store.add(read_letter(claimed))
        except FileNotFoundError:  # a drainer that took this claim for a dead one's moved it on: it is theirs
            continue
        except DATABASE_DOWN:
            _rename(claimed, folder / name)  # back in line for the next drain
            raise
        except (ValueError, sa.exc.DBAPIError) as exc:  # no dead letter, or one the database refuses
            drained.rejected[name] = reject(claimed, folder, name, exc)
            continue
        claimed.unlink(missing_ok=True)
        drained.moved += 1
        _supersede_older_tries(store, letter_id)  # moved in after the letter of the try that followed it?
    if drained.moved:
        log.info("moved %d spooled dead letter(s) from %s into the queue", drained.moved, folder)
    return drained


def read_letter(path: Path) -> DeadLetter:
    """The dead letter a spool file holds; ``ValueError`` naming the file and the field when it holds none."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder, or a file this user may not read: rejected, the others still drain
        raise ValueError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path.name}: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path.name}: a JSON object of dead-letter fields expected, found {type(data).__name__}")
    letter: dict[str, Any] = {}
    for name in TEXT_FIELDS + OPTIONAL_TEXT:
        value = data.get(name)
        if not isinstance(value, str) and not (name in OPTIONAL_TEXT and value is None):
            raise ValueError(f"{path.name}: field {name!r} must be text, found {value!r}")
        letter[name] = value
    for name in ("map_index", "try_number"):
        if not isinstance(data.get(name), int) or isinstance(data.get(name), bool):
            raise ValueError(f"{path.name}: field {name!r} must be an integer, found {data.get(name)!r}")
        letter[name] = data[name]
    for name in ("conf", "inputs"):
        if not isinstance(data.get(name) or {}, dict):
            raise ValueError(f"{path.name}: field {name!r} must be a JSON object, found {data[name]!r}")
        letter[name] = data.get(name) or {}
    for name in DATES:
        try:
            letter[name] = dt.datetime.fromisoformat(data[name]) if data.get(name) else None
        except (TypeError, ValueError):
            raise ValueError(f"{path.name}: field {name!r} must be an ISO date-time, found {data[name]!r}") from None
    return DeadLetter(**letter)


def rejected_files(folder: Path) -> dict[str, str]:
    """The spool files set aside so far (name → why), for a person to repair and put back, or delete."""
    rejected = folder / REJECTED
    if not rejected.is_dir():
        return {}
    return {path.name: (path.with_suffix(".reason").read_text() if path.with_suffix(".reason").exists() else "?")
            for path in sorted(rejected.glob("*.json"))}


def reject(claimed: Path, folder: Path, name: str, error: Exception) -> str:
    """Set a spool file aside in ``rejected/`` with the reason beside it; return the reason."""
    reason = str(error).splitlines()[0][:500] if str(error) else type(error).__name__
    aside = folder / REJECTED
    aside.mkdir(mode=0o700, exist_ok=True)
    (aside / name).with_suffix(".reason").write_text(reason)
    _rename(claimed, aside / name)
    log.error("spooled dead letter %s cannot be stored (%s): kept as %s", name, reason, aside / name)
    return reason


def _supersede_older_tries(store: DeadLetterStore, letter_id: int) -> None:
    """Leave one letter of the task instance pending; a failure here leaves an extra one pending, never a file."""
    try:
        store.supersede_older_tries(letter_id)
    except sa.exc.SQLAlchemyError:
        log.warning("letters of earlier tries than dead letter %s stay pending for now", letter_id, exc_info=True)


def _claims(folder: Path, stale_claim_s: float) -> Iterator[tuple[Path, str]]:
    """Each waiting file (or a stale claim), claimed for this drainer: ``(claimed path, original name)``."""
    token = uuid.uuid4().hex[:12]
    stale_before = time.time() - stale_claim_s
    waiting = sorted(folder.glob("*.json")) + sorted(
        p for p in folder.glob("*.claim-*") if _changed(p) is not None and _changed(p) < stale_before)
    for path in waiting:
        name = path.name.split(".", 1)[0] + ".json"
        claimed = folder / f"{name.removesuffix('.json')}.claim-{token}"
        if _rename(path, claimed):  # a rename sets the file's ctime: the claim's age, for taking over a dead one
            yield claimed, name


def _rename(source: Path, target: Path) -> bool:
    """Rename atomically; False when ``source`` is gone (another drainer took it)."""
    try:
        source.rename(target)
    except FileNotFoundError:
        return False
    return True


def _changed(path: Path) -> float | None:
    """When ``path`` was last renamed or changed (its ctime: unlike the mtime, a rename sets it)."""
    try:
        return path.stat().st_ctime
    except FileNotFoundError:
        return None
