"""A real HTTP model server in a thread, for the deployment steps' tests: it answers like ``serving.py`` does."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer

from ml_pipeline.pipelines.deployment import StagingServer
from tests.support.http_stubs import JsonHandler


class StubModelServer:
    """Serves ``version`` with ``score(row)`` per row; ``healthy=False`` answers 503 on ``/health``.

    ``/admin/reload`` answers ``reload_status``; on 200 the server serves ``reload_to`` (when set) from then on.
    """

    def __init__(self, version: str, score: Callable[[dict], float], healthy: bool = True,
                 reload_status: int = 200, reload_to: str | None = None) -> None:
        self.version, self.score, self.healthy = version, score, healthy
        self.reload_status, self.reload_to = reload_status, reload_to
        self.requests: list[str] = []
        self.reloads = 0
        stub = self

        class Handler(JsonHandler):
            def do_GET(self) -> None:
                stub.requests.append(f"GET {self.path}")
                if self.path == "/health" and not stub.healthy:
                    self.answer_json(503, {"detail": "no model loaded"})
                else:
                    self.answer_json(200, {"status": "ok", "model": "m", "version": stub.version})

            def do_POST(self) -> None:
                stub.requests.append(f"POST {self.path}")
                body = self.read_json()
                if self.path == "/admin/reload":
                    stub.reloads += 1
                    if stub.reload_status != 200:
                        self.answer_json(stub.reload_status, {"detail": "refused"})
                        return
                    previous, stub.version = stub.version, stub.reload_to or stub.version
                    self.answer_json(200, {"version": stub.version, "previous": previous,
                                           "changed": previous != stub.version})
                else:
                    scores = [stub.score(row) for row in body["rows"]]
                    self.answer_json(200, {"model": "m", "version": stub.version, "scores": scores})

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"

    def __enter__(self) -> StubModelServer:
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()

    def launcher(self) -> Callable[[str, str, str], contextlib.AbstractContextManager[StagingServer]]:
        """A ``StagingLauncher`` that hands out this server (already running) and records what it was asked for."""
        self.launched: list[tuple[str, str, str]] = []

        @contextlib.contextmanager
        def launch(model: str, version: str, tracking_uri: str) -> Iterator[StagingServer]:
            self.launched.append((model, version, tracking_uri))
            yield StagingServer(self.url)

        return launch
