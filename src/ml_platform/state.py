"""The supervisor's state file: what runs, since when, how often it restarted."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psutil

LOCK_FILE = "supervisor.lock"


def home_is_a_file(home: Path) -> str:
    """What to say when ``ML_PLATFORM_HOME`` names a file (every file of the platform is read under it)."""
    return f"ML_PLATFORM_HOME={home} is a file, not a folder: set it to the platform's folder (default: .platform in " \
           "the checkout)"


class StateFileError(ValueError):
    """The state file cannot be read at all (a folder of its name, no permission); the message says the fix."""


def read_state(path: Path) -> dict:
    """The last state written, or an empty state when the platform never ran.

    Raises:
        StateFileError: ``path`` is a folder or cannot be opened (a damaged file reads as a platform that is down).
    """
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):  # ValueError: not JSON, or not UTF-8 (a write cut short)
        state = None
    except NotADirectoryError:
        raise StateFileError(home_is_a_file(path.parent)) from None
    except OSError as exc:
        why = "a folder, not the platform's state file" if path.is_dir() else f"unreadable ({exc.strerror})"
        raise StateFileError(f"{path}: {why}: remove it (the next `up` writes it again) or give this user access to "
                             "it") from None
    if not isinstance(state, dict) or not isinstance(state.get("components", {}), dict):
        return {"phase": "down", "components": {}}
    return state


def write_state(path: Path, state: dict) -> None:
    """Replace the state file atomically so readers never see half a file."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))  # keep insertion order: components in start order
    os.replace(tmp, path)


def is_alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    if not pid:
        return False
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def component_alive(entry: dict) -> bool:
    """Whether the process a state entry describes still runs (a reused pid does not count)."""
    pid = entry.get("pid")
    if not is_alive(pid):
        return False
    try:
        return abs(psutil.Process(pid).create_time() - entry.get("create_time", 0.0)) < 1.0
    except psutil.Error:
        return False


def supervisor_pid(path: Path) -> int | None:
    """Pid of the running supervisor of this platform instance (``path``: its state file), if any.

    The holder of the home's supervisor lock, whatever the state file says (a damaged one reads as "down"); a
    supervisor of an earlier release holds none: then the state's pid, when that process is still the supervisor
    that wrote it (a pid reused since, even by another home's supervisor, is not).
    """
    holder = lock_holder(path.parent)
    if holder is not None:
        return holder
    state = read_state(path)
    pid = state.get("supervisor_pid")
    if not isinstance(pid, int) or isinstance(pid, bool):
        return None
    started = state.get("supervisor_create_time")
    return pid if _is_supervisor(pid, started if isinstance(started, int | float) else None) else None


def _is_supervisor(pid: int, started: float | None = None) -> bool:
    """Whether ``pid`` runs a platform supervisor (started at ``started``, when given: not a pid reused since)."""
    try:
        process = psutil.Process(pid)
        same = started is None or abs(process.create_time() - started) < 1.0
        return same and is_alive(pid) and "ml_platform.supervisor" in " ".join(process.cmdline())
    except psutil.Error:
        return False


@contextlib.contextmanager
def supervisor_lock(home: Path, wait_s: float = 3.0) -> Iterator[None]:
    """Hold the home's supervisor lock (``supervisor.lock``, holding this pid and start time) while the block runs.

    One supervisor per home, whatever its state file says; the kernel lets go of the lock when the process dies,
    however it dies. ``wait_s`` covers a command that looks at the lock at the same moment (``lock_holder``).

    Raises:
        SystemExit: Another process holds it: a supervisor runs for this home already.
    """
    handle = open(home / LOCK_FILE, "a+")  # noqa: SIM115 - held for the block
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise SystemExit(f"a supervisor runs for {home} already (pid {lock_holder(home)}, it holds "
                                 f"{home / LOCK_FILE}): `ml-platform down` stops it") from None
            time.sleep(0.1)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()} {psutil.Process().create_time()}")  # a pid reused since is not the holder
        handle.flush()
        yield
    finally:
        handle.close()


def lock_holder(home: Path) -> int | None:
    """Pid of the supervisor holding ``home``'s lock, or None when no process holds it."""
    path = home / LOCK_FILE
    if not path.exists():
        return None
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            for _ in range(20):  # a holder that has just taken it writes its pid over the last one's at once
                handle.seek(0)
                pid, _, started = handle.read().strip().partition(" ")
                with contextlib.suppress(ValueError):
                    if _is_supervisor(int(pid), float(started)):
                        return int(pid)
                time.sleep(0.05)
            return None  # held by no supervisor this can name: never a pid to signal
        fcntl.flock(handle, fcntl.LOCK_UN)
    return None
