"""The supervisor's state file: what runs, since when, how often it restarted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import psutil


def read_state(path: Path) -> dict:
    """The last state written, or an empty state when the platform never ran."""
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {"phase": "down", "components": {}}


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
    """Pid of the running supervisor of this platform instance, if any."""
    pid = read_state(path).get("supervisor_pid")
    if not is_alive(pid):
        return None
    cmdline = " ".join(psutil.Process(pid).cmdline())
    return pid if "ml_platform.supervisor" in cmdline else None
