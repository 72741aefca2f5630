"""``ModelServingHook``: where each model endpoint is served and its admin token (connection ``serving_default``).

And the canary's staging servers: ``launch_staging_server`` starts a challenger on this worker, its log private.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from ml_pipeline.pipelines.deployment import StagingServer

log = logging.getLogger(__name__)


class ModelServingHook(BaseHook):
    """Base URLs of the model servers, by endpoint name, from the connection's extra ``endpoints``.

    The embedded platform keeps ``serving_default`` in Airflow's metadata database, ``{"password": "<admin token>",
    "extra": {"endpoints": {"fraud-detection-api": "http://127.0.0.1:8500"}}}``, updated by its supervisor when a
    model is added, removed or disabled (``ml_platform.serving_connection``); ``AIRFLOW_CONN_SERVING_DEFAULT``, when
    set, wins (production points the names at its load balancer).
    The connection's **password** is the servers' admin token (their ``ML_SERVING_ADMIN_TOKEN``): deployments
    send it as ``Authorization: Bearer`` on ``/admin/reload`` and ``/version``. Without one, a server with a token
    answers 401 and one without answers 403 to a reload.
    """

    conn_name_attr = "serving_conn_id"
    default_conn_name = "serving_default"
    conn_type = "generic"
    hook_name = "Model serving endpoints"

    def __init__(self, serving_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.serving_conn_id = serving_conn_id

    def endpoint_url(self, endpoint_name: str | None) -> str | None:
        """The base URL of ``endpoint_name`` (None for a registry-only model); a clear error when not configured."""
        if endpoint_name is None:
            return None
        endpoints = self.get_connection(self.serving_conn_id).extra_dejson.get("endpoints") or {}
        if endpoint_name not in endpoints:
            raise ValueError(f"connection '{self.serving_conn_id}' has no URL for endpoint '{endpoint_name}' in its "
                             f"extra 'endpoints' (has {sorted(endpoints)}): the embedded platform serves an enabled "
                             "model's endpoint within ~10 s of its config appearing (check `make status` and "
                             "supervisor.log); elsewhere, add it to the connection")
        return str(endpoints[endpoint_name]).rstrip("/")

    def admin_token(self) -> str | None:
        """The model servers' admin token: the connection's password (None when it has none)."""
        return self.get_connection(self.serving_conn_id).password or None


@contextlib.contextmanager
def launch_staging_server(model: str, version: str, tracking_uri: str) -> Iterator[StagingServer]:
    """The canary's ``StagingLauncher``: a model server pinned to ``version`` on a free loopback port.

    Its log goes to a private folder (``canary_log_folder``); the server is stopped when the canary ends. Its
    admin token is a one-off one, in its environment: the canary needs no admin endpoint, and nobody else should.
    It logs in to MLflow as the model servers do (connection ``mlflow_serving``: a user who may only read), not as
    this task; without that connection it keeps the task's login.
    """
    from ml_pipeline.deployment.client import free_port, running_server
    from ml_pipeline.pipelines.deployment import StagingServer
    from ml_pipeline_airflow.hooks.mlflow import MlflowHook

    port = free_port()
    log_path = canary_log_folder() / f"{model}-v{version}-{port}.log"
    login = MlflowHook(MlflowHook.serving_conn_name).login_env()
    if login is None:  # an install from before the connection existed: the canary works, with more rights than needed
        log.warning("connection %r is not defined (or has no login): the canary's model server logs in to MLflow "
                    "with this task's login, which may write. Add it with the model servers' read-only login "
                    "(compose and Helm: AIRFLOW_CONN_MLFLOW_SERVING)", MlflowHook.serving_conn_name)
    with running_server(model, port, tracking_uri, log_path, version=version,
                        admin_token=secrets.token_urlsafe(32), mlflow_login=login) as process:
        yield StagingServer(f"http://127.0.0.1:{port}", process, log_path)


def canary_log_folder() -> Path:
    """A folder only this user can read: ``ml-serving-canary`` under Airflow's log folder, else a new temp one.

    Never a fixed name in the shared temp folder, where another user could plant a link or read the logs.
    """
    from airflow.sdk.configuration import conf

    with contextlib.suppress(Exception):
        folder = Path(conf.get("logging", "base_log_folder")) / "ml-serving-canary"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not folder.is_symlink() and folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)
            return folder
    return Path(tempfile.mkdtemp(prefix="ml-serving-canary-"))
