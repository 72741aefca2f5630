"""What a process we start may hold of our environment: the basics of a process plus the settings it reads.

Used for the processes whose environment must not carry the secrets of the one starting them: the embedded
platform's model servers and local sinks (``ml_platform.process_env``), and the staging server a deployment task
starts for its canary (``ml_pipeline.deployment.client.running_server``), whose task holds Airflow's Fernet key,
connections and, in some deployments, database and storage passwords.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

# Names ending in "_" are prefixes (LC_ALL, LC_CTYPE, …).
BASIC = ("PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "LC_", "TZ", "TMPDIR", "PYTHONPATH",
         "VIRTUAL_ENV", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY",
         "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "DO_NOT_TRACK")
# A model server: the registry (MLflow), the prediction log's lake and spool, its request limits and /admin token.
MODEL_SERVER = (*BASIC, "MLFLOW_", "ML_PREDICTION_", "ML_LAKE_URI", "ML_DATA_URI_MAP", "ML_SERVING_")


def only(env: Mapping[str, str], names: tuple[str, ...]) -> dict[str, str]:
    """The variables of ``env`` named in ``names`` (a name ending in ``_`` is a prefix)."""
    exact = {name for name in names if not name.endswith("_")}
    prefixes = tuple(name for name in names if name.endswith("_"))
    return {key: value for key, value in env.items() if key in exact or key.startswith(prefixes)}


@contextlib.contextmanager
def overlay(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in this process's environment for the block; each variable is put back as it was after."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
