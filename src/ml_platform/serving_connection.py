"""The ``serving_default`` connection, kept in Airflow's metadata database as model endpoints come and go.

An ``AIRFLOW_CONN_*`` variable is read once by each Airflow process: a model added to a running platform would
stay unknown to every task until a restart. A connection in the metadata database is read at each use, by every
task on every worker, so the supervisor writes it there (``airflow connections import --overwrite``: straight to
the database, no API server needed, the admin token never on a command line) before Airflow starts and again
whenever the endpoints change. ``AIRFLOW_CONN_SERVING_DEFAULT`` in the platform's environment still wins (Airflow
reads environment variables first): then the platform leaves the connection alone.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from ml_platform.secrets import write_private

CONN_ID = "serving_default"
ENV_NAME = "AIRFLOW_CONN_SERVING_DEFAULT"


def managed(environ: dict[str, str] | None = None) -> bool:
    """Whether the platform keeps the connection (no ``AIRFLOW_CONN_SERVING_DEFAULT`` in the environment)."""
    return ENV_NAME not in (os.environ if environ is None else environ)


def serving_connection(endpoints: dict[str, tuple[str, int]], admin_token: str) -> dict:
    """The connection of ``endpoints`` (endpoint → (model, port)): their URLs, and the admin token as password."""
    return {"conn_type": "generic", "password": admin_token,
            "extra": json.dumps({"endpoints": {name: f"http://127.0.0.1:{port}"
                                               for name, (_, port) in sorted(endpoints.items())}})}


def write_connection(airflow: str, env: dict[str, str], folder: Path, connection: dict, log: Path) -> None:
    """Create or replace ``serving_default`` in the metadata database that ``env`` names.

    The file handed to the CLI holds the admin token: mode 0600, removed at once.

    Raises:
        subprocess.CalledProcessError: the CLI failed (its output is in ``log``).
    """
    path = folder / "serving-connection.json"
    write_private(path, json.dumps({CONN_ID: connection}))
    try:
        with open(log, "ab") as out:
            subprocess.run([airflow, "connections", "import", "--overwrite", str(path)], env=env, stdout=out,
                           stderr=subprocess.STDOUT, check=True, timeout=300)
    finally:
        path.unlink(missing_ok=True)
