"""Logging of the platform's own processes (the supervisor, `ml-pipeline`, the model servers, the exporters).

One format per process, at INFO, and no line per HTTP request: httpx, the client that calls Airflow's REST API and
the model servers, logs every request it sends at INFO (``HTTP Request: POST …/auth/token``), which buried the
supervisor's own lines under a dozen of these per config change and filled the metrics exporter's log.
"""

from __future__ import annotations

import logging
from typing import TextIO

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(message)s"
NAMED_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"  # the servers': whose line it is
# libraries that log each request at INFO: their warnings and errors still show
PER_REQUEST_LOGGERS = ("httpx",)


def configure_logging(fmt: str = DEFAULT_FORMAT, stream: TextIO | None = None) -> None:
    """Log at INFO in ``fmt`` to ``stream`` (stderr by default); the per-request loggers only from WARNING."""
    logging.basicConfig(level=logging.INFO, format=fmt, stream=stream)
    for name in PER_REQUEST_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
