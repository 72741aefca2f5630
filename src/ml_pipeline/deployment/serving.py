"""The model server: a model's ``champion`` (or one pinned version) over HTTP, swapped in place.

``POST /predict`` takes rows of features and returns fraud-style probabilities (``predict_proba``), not the
class labels ``mlflow models serve`` returns. A new champion is loaded *beside* the one serving, checked on a
smoke row, and only then swapped in by one reference assignment: requests in flight finish on the model they
started with, none is dropped, and a version that cannot load or score is refused while the old one keeps
serving (``POST /admin/reload`` answers 409 with the reason, and a version refused once is not downloaded again
until the target changes). The alias is polled too, so a champion moved by hand in the MLflow UI is picked up
within ``--poll-seconds``. docs/DESIGN.md "Serving" has the reasoning.

Admin: ``POST /admin/reload`` and the lineage half of ``GET /version`` need ``Authorization: Bearer <token>``,
the token read from env ``ML_SERVING_ADMIN_TOKEN`` or ``--admin-token-file`` (never the command line, which
``ps`` shows). Without a token they answer 403: secure by default; the alias poll needs none. ``/predict`` takes
at most ``ML_SERVING_MAX_BODY_BYTES`` (1 MiB) and ``ML_SERVING_MAX_ROWS`` (1000 rows) per request: 413 beyond.

``--prediction-log LAKE_URI`` queues every scored row for the prediction log, written to the lake by a background
thread (``ml_pipeline.monitoring.prediction_log``); ``/health`` reports its counters. ``GET /metrics`` counts and
times the requests in Prometheus' format (``ml_pipeline.deployment.serving_metrics``).

Run: ``python -m ml_pipeline.deployment.serving --model fraud_detection --port 8500`` (``make up`` does it for
every model with ``deployment.endpoint_name``); ``--version 7`` pins a version (the canary's staging instance).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request  # at module level: FastAPI resolves the endpoints' string annotations here

from ml_pipeline.deployment.client import ADMIN_TOKEN_ENV, EXIT_MODEL_REFUSED, EXIT_REGISTRY_UNAVAILABLE
from ml_pipeline.deployment.loaded_model import LoadedModel, ModelLoadError, load_version
from ml_pipeline.deployment.serving_metrics import install_metrics
from ml_pipeline.deployment.serving_policy import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_ROWS,
    MAX_BODY_ENV,
    MAX_ROWS_ENV,
    ServingPolicy,
    read_body,
    request_rows,
    serving_policy,
)
from ml_pipeline.errors import PipelineError, TransientError
from ml_pipeline.failures.classification import is_transient
from ml_pipeline.process_logging import NAMED_FORMAT, configure_logging

if TYPE_CHECKING:
    from ml_pipeline.monitoring.prediction_log import PredictionLogWriter

log = logging.getLogger("ml_pipeline.serving")
__all__ = ["LoadedModel", "ModelLoadError", "ModelServer", "ServingPolicy", "create_app", "load_version", "main",
           "prediction_writer"]
class ModelServer:
    """Holds the model being served and swaps it for the alias's version (or a pinned one) on reload."""

    def __init__(self, name: str, tracking_uri: str, alias: str = "champion", version: str | None = None,
                 loader: Callable[[str, str, str], LoadedModel] = load_version):
        """Serve ``name``'s ``alias`` (or the pinned ``version``), loading versions with ``loader``."""
        self.name, self.tracking_uri, self.alias, self.pinned = name, tracking_uri, alias, version
        self.loader = loader
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
        self.refused: tuple[str, str] | None = None  # (version, reason): not loaded again while it is the target
        self._reload_lock = threading.Lock()

    def target_version(self) -> str | None:
        """The version that should be served: the pinned one, or the alias's (None: the alias is not set).

        Raises:
            TransientError: MLflow is unreachable or failing; the model being served stays.
        """
        if self.pinned:
            return self.pinned
        from ml_pipeline.registry import mlflow_registry as registry  # noqa: I001 - first: telemetry off
        from mlflow import MlflowClient

        found = registry.alias_version(MlflowClient(self.tracking_uri), self.name, self.alias)
        return found.version if found else None

    def reload(self) -> dict[str, Any]:
        """Serve the target version: load and check it beside the current one, then swap. Idempotent.

        Raises:
            ModelLoadError: The target version is refused; one refused before is not downloaded again.
            TransientError: MLflow is unreachable: the model being served stays.
        """
        with self._reload_lock:
            before = self.current.version if self.current else None
            target = self.target_version()
            if self.refused and self.refused[0] != target:  # the target moved off it: a later return loads it again
                self.refused = None
            if target is None:
                self.current, self.last_error = None, self._no_target()
                log.warning("%s: /health and /predict answer 503 until it has one (following the alias)",
                            self.last_error)
            elif target != before:
                if self.refused and self.refused[0] == target:
                    raise ModelLoadError(f"v{target} was refused already (not loaded again until the target "
                                         f"version changes): {self.refused[1]}")
                try:
                    self.current = self.loader(self.tracking_uri, self.name, target)
                except (ModelLoadError, TransientError) as exc:
                    self.last_error = str(exc)
                    if isinstance(exc, ModelLoadError):
                        self.refused = (target, str(exc))
                    log.error("keeping v%s: %s", before, exc)
                    raise
                self.last_error, self.refused = None, None
                log.info("serving %s v%s (was v%s)", self.name, target, before)
            return {"model": self.name, "version": self.current.version if self.current else None,
                    "previous": before, "changed": (self.current.version if self.current else None) != before}

    def _no_target(self) -> str:
        """Why there is nothing to serve: the model is not registered (a typo?), or its alias is not set yet."""
        from ml_pipeline.registry import mlflow_registry as registry  # noqa: I001 - first: telemetry off
        from mlflow import MlflowClient

        if registry.registered_model(MlflowClient(self.tracking_uri), self.name) is None:
            return f"no model {self.name!r} is registered in {self.tracking_uri}: check the name, or train it first"
        return (f"model {self.name} has no '{self.alias}' alias: a deployment run promotes a version to it "
                f"(`ml-pipeline deployments {self.name}` shows its versions)")

    def poll(self, seconds: float) -> None:
        """Follow the alias forever (a daemon thread).

        A refused version is retried only when the alias moves (``refused``, shared with ``/admin/reload``);
        while MLflow is unreachable the model being served stays (an outage is never read as "the alias is gone").
        """
        while True:
            try:
                target = self.target_version()
                if self.refused and self.refused[0] != target:  # moved off the refused one (e.g. rolled back)
                    self.refused = None
                refused = self.refused[0] if self.refused else None
                if target != (self.current.version if self.current else None) and target != refused:
                    self.reload()
            except ModelLoadError:
                pass  # remembered in self.refused, logged by reload
            except PipelineError as exc:  # MLflow unreachable, or a tracking URI that is not MLflow's
                log.warning("cannot follow alias %s of %s now (serving v%s on): %s", self.alias, self.name,
                            self.current.version if self.current else None, exc)
            except Exception:
                log.exception("cannot check alias %s of %s (serving goes on)", self.alias, self.name)
            time.sleep(seconds)


def create_app(server: ModelServer, writer: PredictionLogWriter | None = None, policy: ServingPolicy | None = None):
    """The FastAPI app of one model server.

    ``writer`` (optional) logs every scored row, flushed at shutdown; ``policy`` holds the admin token and the
    request limits (default: no token, so the admin endpoints answer 403, and the default limits).
    """
    from fastapi import FastAPI, Header, HTTPException
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    policy = policy or ServingPolicy()

    @contextlib.asynccontextmanager
    async def lifespan(_app):  # the log's thread runs with the app; what it holds is written when uvicorn stops
        with contextlib.closing(writer.start()) if writer is not None else contextlib.nullcontext():
            yield

    app = FastAPI(title=f"{server.name} serving", version="1", lifespan=lifespan)
    metrics = install_metrics(app, server, writer)  # GET /metrics; every request counted and timed

    @app.get("/health")
    def health():
        model = server.current
        logged = writer.stats() if writer is not None else None
        if model is None:
            return JSONResponse({"status": "unavailable", "model": server.name, "prediction_log": logged,
                                 "reason": server.last_error or "loading"}, status_code=503)
        return {"status": "ok", "model": server.name, "version": model.version, "last_error": server.last_error,
                "prediction_log": logged}

    @app.get("/version")
    def version(authorization: str | None = Header(None)):
        """Name, version and alias for anyone; run, lineage and the rest only with the admin token."""
        model = server.current
        if model is None:
            raise HTTPException(503, server.last_error or "no model loaded yet")
        public = {"model": model.name, "version": model.version, "alias": None if server.pinned else server.alias}
        if authorization is None:
            return public
        policy.check_admin(authorization)
        return {**model.describe(), **public}

    def score(model: LoadedModel, rows: list[dict[str, Any]]) -> dict[str, Any]:
        try:
            scores = model.score(rows)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        metrics.scored(len(scores))
        request_id = uuid.uuid4().hex
        if writer is not None:  # references queued only: the flush thread builds and writes the frames
            writer.log(request_id, model.version, rows, scores, features=model.kinds)
        return {"model": model.name, "version": model.version, "scores": scores, "request_id": request_id}

    @app.post("/predict")
    async def predict(request: Request):
        model = server.current  # one reference: a swap during this request does not affect it
        if model is None:
            raise HTTPException(503, server.last_error or "no model loaded yet")
        rows = request_rows(await read_body(request, policy.max_body_bytes), policy.max_rows)
        return await run_in_threadpool(score, model, rows)  # scoring is CPU work: off the event loop

    @app.post("/admin/reload")
    def reload(authorization: str | None = Header(None)):
        policy.check_admin(authorization)
        try:
            return server.reload()
        except Exception as exc:  # refused (409) or the registry is unreachable (503): the old model serves on
            serving = server.current.version if server.current else None
            return JSONResponse({"detail": f"{type(exc).__name__}: {exc}", "serving": serving},
                                status_code=409 if isinstance(exc, ModelLoadError) else 503)

    return app


def main(argv: list[str] | None = None) -> None:
    """Entry point: load in the background (``/health`` is 503 until then), serve, follow the alias."""
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="registered model name")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"))
    parser.add_argument("--alias", default="champion")
    parser.add_argument("--version", default=None, help="serve this version only (no alias, no polling)")
    parser.add_argument("--poll-seconds", type=float, default=30.0)
    parser.add_argument("--prediction-log", metavar="LAKE_URI", default=None,
                        help="log every scored row under LAKE_URI/predictions/<model> (default: env "
                             "ML_PREDICTION_LOG_URI, except for a pinned --version; none: off)")
    parser.add_argument("--entity-key", default=None, help="request field logged as entity_id (e.g. transaction_id)")
    parser.add_argument("--spill-dir", type=Path, default=None,
                        help="where the log waits while the lake fails (default: a folder named for the model "
                             "and port under env ML_PREDICTION_SPILL_DIR, else a new private temp folder)")
    parser.add_argument("--admin-token-file", type=Path, default=None,
                        help=f"file holding the admin token (default: env {ADMIN_TOKEN_ENV}; none: admin off)")
    parser.add_argument("--max-body-bytes", type=int, default=None,
                        help=f"largest /predict body (default: env {MAX_BODY_ENV}, else {DEFAULT_MAX_BODY_BYTES})")
    parser.add_argument("--max-rows", type=int, default=None,
                        help=f"most rows per /predict (default: env {MAX_ROWS_ENV}, else {DEFAULT_MAX_ROWS})")
    args = parser.parse_args(argv)
    configure_logging(NAMED_FORMAT)
    policy = serving_policy(args, parser.error)
    if not policy.admin_token:
        log.warning("no admin token (%s, --admin-token-file): /admin/reload answers 403", ADMIN_TOKEN_ENV)
    server = ModelServer(args.model, args.tracking_uri, args.alias, args.version)

    def first_load() -> None:
        try:
            server.reload()
        except Exception as exc:
            server.last_error = str(exc)
            log.exception("first load failed")
            if args.version:  # a pinned (staging) server has nothing else to serve: exit, so its caller fails fast
                os._exit(EXIT_REGISTRY_UNAVAILABLE if is_transient(exc) else EXIT_MODEL_REFUSED)
        if not args.version:
            server.poll(args.poll_seconds)

    threading.Thread(target=first_load, name="model-loader", daemon=True).start()
    app = create_app(server, prediction_writer(args), policy)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


def prediction_writer(args: argparse.Namespace) -> PredictionLogWriter | None:
    """The prediction log the command line asks for; None when off.

    A pinned server (the canary's staging instance) logs only when told so on its own command line: staging
    traffic is not production traffic, and it inherits its caller's environment.
    """
    lake = args.prediction_log or (None if args.version else os.environ.get("ML_PREDICTION_LOG_URI"))
    if not lake:
        return None
    from ml_pipeline.monitoring.prediction_log import PredictionLogWriter

    spill = args.spill_dir
    if spill is None and os.environ.get("ML_PREDICTION_SPILL_DIR"):  # one folder per server: its writer moves it
        spill = Path(os.environ["ML_PREDICTION_SPILL_DIR"]) / f"ml-prediction-spool-{args.model}-{args.port}"
    elif spill is None:  # private (0700) and unguessable in a shared temp dir; not found again after a restart
        spill = Path(tempfile.mkdtemp(prefix=f"ml-prediction-spool-{args.model}-"))
    log.info("logging predictions of %s to %s (spill folder %s)", args.model, lake, spill)
    return PredictionLogWriter(lake, args.model, {}, spill, entity_key=args.entity_key)


if __name__ == "__main__":
    main()
