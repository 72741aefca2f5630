"""Task processes run at a lower CPU priority than the platform's own processes.

On a machine the platform shares with its tasks, the scheduler, the API server (every task's start and end go
through it), the database and the model servers are what everyone waits for; a burst of task processes competing
with them as equals slowed every hand-off (docs/DESIGN.md, "Scheduling at scale"). Both executors' task workers
lower their own priority once, when they start, and every task process they fork inherits it:
``ML_PLATFORM_TASK_NICE`` (default 10, a nice increment; 0 turns it off). Only CPU shares change: an idle machine
runs a task as fast as before.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

TASK_NICE_ENV = "ML_PLATFORM_TASK_NICE"
DEFAULT_TASK_NICE = 10


def task_nice() -> int:
    """The nice increment of task processes, from ``ML_PLATFORM_TASK_NICE``."""
    value = os.environ.get(TASK_NICE_ENV, str(DEFAULT_TASK_NICE))
    try:
        nice = int(value)
    except ValueError:
        raise ValueError(f"{TASK_NICE_ENV}={value!r}: give a whole number from 0 (off) to 19") from None
    if not 0 <= nice <= 19:
        raise ValueError(f"{TASK_NICE_ENV}={value!r}: give a whole number from 0 (off) to 19")
    return nice


def lower_task_priority() -> int:
    """Lower this process's CPU priority by ``task_nice()``; return its niceness after."""
    return os.nice(task_nice())
