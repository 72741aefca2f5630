"""Build the Task Execution API's routes when an API-server worker starts, not on its first task's call.

Airflow's Task Execution API (mounted at ``/execution``) is a Cadwyn app: it generates one router per API version
(ten in Airflow 3.3) the first time a request reaches it, about 6 s of CPU on a 2-core machine, in every API-server
worker. Each worker did that on the first call of the first task it served, so the first burst of tasks after a
start waited for it twice (two workers) while the tasks' own calls queued behind it. A ``py-spy`` profile of a
50-run burst right after ``ml-platform up`` had half of all samples in it (docs/DESIGN.md, "Scheduling at scale").

Gunicorn (the platform's ``api.server_type``) builds Airflow's app in its master and forks the workers from it: the
master builds the routes just before it forks its first worker (``build_before_fork``), once, and every worker,
a refreshed one too, starts with them (a start of the platform on two cores: the API server's CPU 16.6 → 13.5 s,
its workers ready ~1 s after their fork instead of ~8 s; the routes' memory shared by the workers). Where no master
forks the workers (uvicorn's fresh interpreters), Airflow's API server enters the lifespan of every FastAPI app
mounted in it before a worker accepts a connection, and ``lifespan`` below builds them there. The plugin mounts
this app only in the API server (``plugin.py``): a task process loads the plugin too and must not import FastAPI
for it.

Building the app also makes the processes an API-server worker forks stop on SIGTERM
(``default_sigterm_in_forked_children``): the OpenLineage listener sends DAG-run events from a process pool that a
worker forks, and that pool process kept the gunicorn worker's SIGTERM handler (which only marks the worker as
stopping), so ``make down`` waited 30 s for it and then killed it.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

EXECUTION_API_PATH = "/execution"


def execution_api(root: Any) -> Any | None:
    """The app ``root`` mounts at ``/execution``, or None."""
    for route in getattr(root, "routes", ()):
        if getattr(route, "path", None) == EXECUTION_API_PATH:
            return getattr(route, "app", None)
    return None


def build_execution_api_routes(root: Any) -> bool:
    """Generate the versioned routes of ``root``'s Task Execution API now; True if this call built them.

    Does nothing when there is no such app, when it is built already, or when Cadwyn no longer has the method
    (its first request then builds them, as before): a warm-up must never stop the API server.
    """
    app = execution_api(root)
    initialize = getattr(app, "_cadwyn_initialize", None)
    if app is None or initialize is None or getattr(app, "_cadwyn_initialized", True):
        return False
    started = time.process_time()
    initialize()
    log.info("Task Execution API: versioned routes built at start in %.1f CPU-s", time.process_time() - started)
    return True


def root_app() -> Any | None:
    """The API server's app: ``airflow.api_fastapi.main.app``, the module uvicorn and gunicorn both serve."""
    return getattr(sys.modules.get("airflow.api_fastapi.main"), "app", None)


def build_quietly() -> None:
    """``build_execution_api_routes`` of the API server's app; a failure is logged, never raised."""
    try:
        build_execution_api_routes(root_app())
    except Exception:  # the first request builds them instead, as Airflow does
        log.exception("Task Execution API routes could not be built at start; its first request will build them")


@functools.cache
def build_before_fork() -> None:
    """Build the routes in this process just before it forks, so that its children start with them.

    In gunicorn's master, its app loaded, the first fork builds them; a no-op once built and before the app exists.
    Registered once per process (cached).
    """
    os.register_at_fork(before=build_quietly)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """At a worker's start, before it serves: build the Task Execution API's routes.

    A worker that gunicorn's master forked starts with them built: nothing to do.
    """
    build_quietly()
    yield


def default_sigterm_in_forked_children() -> None:
    """From now on, a process this one (or a process forked from it) forks starts with SIGTERM's default action.

    A server that installs its own handler after the fork (a gunicorn worker does) is unaffected.
    """
    os.register_at_fork(after_in_child=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))


def create_app() -> Any:
    """An app without routes, mounted only for its lifespan.

    The routes are built before the API server forks; its forked children stop on SIGTERM.
    """
    from fastapi import FastAPI

    build_before_fork()
    default_sigterm_in_forked_children()

    return FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
