"""The model server: a model's ``champion`` (or one pinned version) over HTTP, swapped in place.

``POST /predict`` takes rows of features and returns fraud-style probabilities (``predict_proba``), not the
class labels ``mlflow models serve`` returns. A new champion is loaded *beside* the one serving, checked on a
smoke row, and only then swapped in by one reference assignment: requests in flight finish on the model they
started with, none is dropped, and a version that cannot load or score is refused while the old one keeps
serving (``POST /admin/reload`` answers 409 with the reason). The alias is polled too, so a champion moved by
hand in the MLflow UI is picked up within ``--poll-seconds``. docs/DESIGN.md "Serving" has the reasoning.

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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ml_pipeline.deployment.client import EXIT_MODEL_REFUSED, EXIT_REGISTRY_UNAVAILABLE
from ml_pipeline.deployment.loaded_model import LoadedModel, ModelLoadError, load_version
from ml_pipeline.deployment.serving_metrics import install_metrics
from ml_pipeline.errors import TransientError
from ml_pipeline.failures.classification import is_transient

if TYPE_CHECKING:
    from ml_pipeline.monitoring.prediction_log import PredictionLogWriter

log = logging.getLogger("ml_pipeline.serving")
__all__ = ["LoadedModel", "ModelLoadError", "ModelServer", "create_app", "load_version", "main", "prediction_writer"]


class ModelServer:
    """Holds the model being served and swaps it for the alias's version (or a pinned one) on reload."""

    def __init__(self, name: str, tracking_uri: str, alias: str = "champion", version: str | None = None):
        self.name, self.tracking_uri, self.alias, self.pinned = name, tracking_uri, alias, version
        self.current: LoadedModel | None = None
        self.last_error: str | None = None
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
        """Serve the target version: load and check it beside the current one, then swap. Idempotent."""
        with self._reload_lock:
            before = self.current.version if self.current else None
            target = self.target_version()
            if target is None:
                self.current, self.last_error = None, f"model {self.name} has no '{self.alias}' alias"
            elif target != before:
                try:
                    self.current = load_version(self.tracking_uri, self.name, target)
                except (ModelLoadError, TransientError) as exc:
                    self.last_error = str(exc)
                    log.error("keeping v%s: %s", before, exc)
                    raise
                self.last_error = None
                log.info("serving %s v%s (was v%s)", self.name, target, before)
            return {"model": self.name, "version": self.current.version if self.current else None,
                    "previous": before, "changed": (self.current.version if self.current else None) != before}

    def poll(self, seconds: float) -> None:
        """Follow the alias forever (a daemon thread).

        A refused version is retried only when the alias moves; while MLflow is unreachable the model being
        served stays (an outage is never read as "the alias is gone").
        """
        refused: str | None = None
        while True:
            try:
                target = self.target_version()
                if target != (self.current.version if self.current else None) and target != refused:
                    self.reload()
            except ModelLoadError:
                refused = target
            except TransientError as exc:
                log.warning("cannot follow alias %s of %s now (serving v%s on): %s", self.alias, self.name,
                            self.current.version if self.current else None, exc)
            except Exception:
                log.exception("cannot check alias %s of %s (serving goes on)", self.alias, self.name)
            time.sleep(seconds)


def create_app(server: ModelServer, writer: PredictionLogWriter | None = None):
    """The FastAPI app of one model server; ``writer`` (optional) logs every scored row, flushed at shutdown."""
    from fastapi import Body, FastAPI, HTTPException
    from fastapi.responses import JSONResponse

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
    def version():
        model = server.current
        if model is None:
            raise HTTPException(503, server.last_error or "no model loaded yet")
        return {**model.describe(), "alias": None if server.pinned else server.alias}

    @app.post("/predict")
    def predict(body: dict = Body(...)):  # noqa: B008 - FastAPI's way of declaring a JSON body
        model = server.current  # one reference: a swap during this request does not affect it
        if model is None:
            raise HTTPException(503, server.last_error or "no model loaded yet")
        rows = body.get("rows", body.get("dataframe_records"))
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise HTTPException(422, 'expected {"rows": [{"feature": value, ...}, ...]}')
        try:
            scores = model.score(rows)
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc
        metrics.scored(len(scores))
        request_id = uuid.uuid4().hex
        if writer is not None:  # references queued only: the flush thread builds and writes the frames
            writer.log(request_id, model.version, rows, scores, features=model.kinds)
        return {"model": model.name, "version": model.version, "scores": scores, "request_id": request_id}

    @app.post("/admin/reload")
    def reload():
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
                             "and port under env ML_PREDICTION_SPILL_DIR, else under the system temp dir)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
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
    app = create_app(server, prediction_writer(args))
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

    spill = args.spill_dir or Path(os.environ.get("ML_PREDICTION_SPILL_DIR") or tempfile.gettempdir()) / (
        f"ml-prediction-spool-{args.model}-{args.port}")  # one folder per server: a spill is moved by its writer
    log.info("logging predictions of %s to %s (spill folder %s)", args.model, lake, spill)
    return PredictionLogWriter(lake, args.model, {}, spill, entity_key=args.entity_key)


if __name__ == "__main__":
    main()
