"""``ml-pipeline``'s command groups that need the running platform, one module per group.

Each module has a ``register(commands)`` like the core's groups in ``ml_pipeline.cli``; ``ml_platform.pipeline_cli``
adds them to the core's parser, so users type ``ml-pipeline dlq list`` while the core never imports this layer.
Handlers import the platform's services when they run: ``ml-pipeline --help`` stays instant.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]
DOWN_HINT = "is the platform up (`make status`)?"


def reporting_errors(handler: Handler) -> Handler:
    """Wrap a handler so that what a user can fix is one line on stderr and exit 1, never a traceback.

    That is an unknown id, a request the API refused, a wait that timed out, and the platform's database or a
    server of it that does not answer (with the hint to check that the platform is up).
    """

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        import httpx
        import sqlalchemy.exc

        from ml_pipeline.errors import PermanentError, TransientError
        from ml_platform.airflow_api import AirflowApiError

        try:
            return handler(args)
        except (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
            print(f"error: the platform's database does not answer ({cause}); {DOWN_HINT}", file=sys.stderr)
        except httpx.TransportError as exc:
            where = exc.request.url if _has_request(exc) else "the server"
            print(f"error: {where} does not answer ({type(exc).__name__}: {exc}); {DOWN_HINT}", file=sys.stderr)
        except TransientError as exc:  # MLflow not answering after its retries
            print(f"error: {str(exc)[:300]}; {DOWN_HINT}", file=sys.stderr)
        except (LookupError, ValueError, AirflowApiError, TimeoutError, PermanentError) as exc:
            print(f"error: {exc}", file=sys.stderr)
        return 1

    return run


def _has_request(exc: Exception) -> bool:
    try:
        return exc.request is not None  # type: ignore[attr-defined]
    except RuntimeError:  # httpx raises when the error was not tied to a request
        return False
