"""What one model server lets through: the admin token its admin endpoints need, and how much a ``/predict`` carries.

The token comes from the environment (``ML_SERVING_ADMIN_TOKEN``) or a file, never the command line (anyone on the
machine can read a process's arguments); it is compared in constant time. A body over ``max_body_bytes`` (declared or
streamed) and a batch over ``max_rows`` are refused with 413 before any row is scored.
"""

from __future__ import annotations

import argparse
import hmac
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from ml_pipeline.deployment.client import ADMIN_TOKEN_ENV

__all__ = ["DEFAULT_MAX_BODY_BYTES", "DEFAULT_MAX_ROWS", "MAX_BODY_ENV", "MAX_ROWS_ENV", "ServingPolicy",
           "read_body", "request_rows", "serving_policy"]
MAX_BODY_ENV, MAX_ROWS_ENV = "ML_SERVING_MAX_BODY_BYTES", "ML_SERVING_MAX_ROWS"
DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_ROWS = 1 << 20, 1000


@dataclass(frozen=True)
class ServingPolicy:
    """Who may call the admin endpoints (None: nobody) and how much one ``/predict`` may carry."""

    admin_token: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_rows: int = DEFAULT_MAX_ROWS

    def __repr__(self) -> str:  # never the token, in a log or a traceback
        return f"ServingPolicy(admin={'on' if self.admin_token else 'off'}, max_body_bytes={self.max_body_bytes}, " \
               f"max_rows={self.max_rows})"

    def check_admin(self, authorization: str | None) -> None:
        """Raise 403 when this server has no admin token, 401 unless ``authorization`` is ``Bearer <token>``."""
        from fastapi import HTTPException

        if not self.admin_token:
            raise HTTPException(403, f"admin endpoints are off: this server has no admin token; start it with env "
                                     f"{ADMIN_TOKEN_ENV} (or --admin-token-file) and send the token as "
                                     "'Authorization: Bearer <token>'")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.admin_token.encode()):
            raise HTTPException(401, f"admin endpoint: send this server's admin token ({ADMIN_TOKEN_ENV}) as "
                                     "'Authorization: Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})


async def read_body(request: Request, limit: int) -> bytes:
    """The request's body, or 413 once it passes ``limit`` bytes (declared or streamed: chunked bodies count too)."""
    from fastapi import HTTPException

    too_big = HTTPException(413, f"request body over {limit} bytes: send fewer rows per request (this server's "
                                 f"limit is {MAX_BODY_ENV} / --max-body-bytes)")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    return bytes(body)


def request_rows(body: bytes, max_rows: int) -> list[dict[str, Any]]:
    """The rows of a ``/predict`` body; 422 when it is not ``{"rows": [{...}, ...]}``, 413 over ``max_rows``."""
    from fastapi import HTTPException

    expected = 'expected {"rows": [{"feature": value, ...}, ...]}'
    try:
        parsed = json.loads(body)
    except ValueError as exc:
        raise HTTPException(422, f"body is not JSON ({exc}): {expected}") from exc
    except RecursionError as exc:  # nested deeper than the parser goes: no body of rows is
        raise HTTPException(422, f"body is JSON nested too deep: {expected}") from exc
    rows = parsed.get("rows", parsed.get("dataframe_records")) if isinstance(parsed, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise HTTPException(422, expected)
    if len(rows) > max_rows:
        raise HTTPException(413, f"{len(rows)} rows in one request, over this server's limit of {max_rows} "
                                 f"({MAX_ROWS_ENV} / --max-rows): split the batch")
    return rows


def serving_policy(args: argparse.Namespace, fail: Callable[[str], Any]) -> ServingPolicy:
    """The admin token and request limits of the command line and the environment; ``fail`` (message) if bad."""
    token = os.environ.get(ADMIN_TOKEN_ENV, "").strip() or None
    if args.admin_token_file is not None:
        try:
            token = args.admin_token_file.read_text().strip()
        except OSError as exc:
            fail(f"--admin-token-file {args.admin_token_file}: cannot read it ({exc.strerror}): write the token "
                 f"there, or set env {ADMIN_TOKEN_ENV} instead")
        if not token:
            fail(f"--admin-token-file {args.admin_token_file} is empty: write the admin token into it")
    limits = {}
    for field, flag, env, default in (("max_body_bytes", "--max-body-bytes", MAX_BODY_ENV, DEFAULT_MAX_BODY_BYTES),
                                      ("max_rows", "--max-rows", MAX_ROWS_ENV, DEFAULT_MAX_ROWS)):
        given = getattr(args, field)
        raw = given if given is not None else os.environ.get(env, "").strip() or default
        try:
            limits[field] = int(raw)
        except ValueError:
            limits[field] = 0
        if limits[field] < 1:
            fail(f"{flag} / env {env} is {raw!r}: expected a positive whole number (default {default})")
    return ServingPolicy(token, **limits)
