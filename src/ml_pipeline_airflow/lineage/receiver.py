"""The platform's OpenLineage receiver: ``POST /lineage`` stores the HTTP transport's events in the platform database.

Compose and Helm post here (their workers share no folder with the platform); the embedded platform's tasks append
to a file that the lineage shipper stores instead (``ml_platform.lineage_transport``).

Mounted in the API server by the dashboard plugin at ``/ml-platform/api`` (so the transport posts to
``/ml-platform/api/lineage``), as an app of its own: the dashboard's routes need an Airflow user's JWT, this one the
platform's lineage token (``Authorization: Bearer <token>``, the transport's ``api_key`` auth), compared in constant
time. The token comes from ``ML_PLATFORM_LINEAGE_TOKEN``; without one every request is refused.

The body is one OpenLineage run event or a JSON list of them (a batch). Events go to ``LineageStore`` on the
``ml_platform_db`` connection's engine, a batch in one transaction; a re-sent event is stored once. Answers: 200
``{"stored": n}`` (the events taken, new or already there), 400 naming what is wrong with the body, 401 without the
right token, 503 when the database cannot be written (the transport logs it; the task never waits on it for long).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from functools import cache
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, FastAPI, HTTPException, Request
from starlette.concurrency import run_in_threadpool

if TYPE_CHECKING:
    from ml_pipeline.lineage.store import LineageStore

log = logging.getLogger(__name__)
TOKEN_ENV = "ML_PLATFORM_LINEAGE_TOKEN"
PATH = "/lineage"
MOUNT_PREFIX = "/ml-platform/api"
"""Where ``create_app`` is mounted in the API server; ``MOUNT_PREFIX + PATH`` is the HTTP transport's endpoint."""
MAX_BATCH = 1000
MAX_BODY_BYTES = 10 * 1024 * 1024
"""The largest request read (413 past it): a batch of events, never a way to fill the API server's memory."""

router = APIRouter()


def create_app() -> FastAPI:
    """The receiver as an app of its own (no docs pages), for ``fastapi_apps`` at ``MOUNT_PREFIX``."""
    app = FastAPI(title="ML platform lineage receiver", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(router)
    return app


@router.post(PATH)
async def receive(request: Request) -> dict[str, int]:
    """Store one OpenLineage run event, or a list of them; answer how many were stored."""
    check_token(request.headers.get("authorization"), os.environ.get(TOKEN_ENV, ""))
    try:
        body = json.loads(await _bounded_body(request))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"the body is not JSON: {exc}") from exc
    events = body if isinstance(body, list) else [body]
    if not events or len(events) > MAX_BATCH:
        raise HTTPException(400, f"send 1 to {MAX_BATCH} OpenLineage run events (got {len(events)})")
    rows = _validated(events)
    try:  # the database is written from a thread: the API server's event loop serves Airflow meanwhile
        await run_in_threadpool(lineage_store().add_many, rows)  # one transaction for the batch
    except Exception as exc:  # the database is down or not prepared: the sender logs it and goes on
        log.warning("lineage events not stored: %s", exc)
        raise HTTPException(503, f"lineage events not stored: {type(exc).__name__}: {exc}") from exc
    return {"stored": len(rows)}


async def _bounded_body(request: Request) -> bytes:
    """The request's body, refused (413) past ``MAX_BODY_BYTES`` without reading more than that."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPException(413, f"a lineage request holds at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"a lineage request holds at most {MAX_BODY_BYTES} bytes")
    return bytes(body)


def check_token(header: str | None, token: str) -> None:
    """Refuse (401) unless ``header`` is ``Bearer <token>``; an unset token refuses everything."""
    scheme, _, given = (header or "").partition(" ")
    if not token or scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise HTTPException(401, "a valid lineage token is required (Authorization: Bearer <token>)",
                            headers={"WWW-Authenticate": "Bearer"})


def _validated(events: list[Any]) -> list[dict]:
    """The events when each is a run event (``event_row`` accepts it); else 400 naming the first bad one."""
    from ml_pipeline.lineage.store import event_row

    for i, event in enumerate(events):
        try:
            event_row(event)
        except ValueError as exc:
            where = f"event {i}: " if len(events) > 1 else ""
            raise HTTPException(400, f"{where}{exc}") from exc
    return events


@cache
def lineage_store() -> LineageStore:
    """The store on the platform database (connection ``ml_platform_db``), one engine per API-server worker."""
    from ml_pipeline.lineage.store import LineageStore
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    return LineageStore(PlatformDatabaseHook().engine)
