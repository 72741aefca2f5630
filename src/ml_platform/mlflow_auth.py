"""MLflow's own authentication on the platform's tracking server: its config, its users and what each may do.

The server runs MLflow's ``basic-auth`` app (``mlflow server --app-name basic-auth``) with three users, their
passwords generated like the platform's other secrets:

- ``admin``: MLflow's admin (manages users and permissions); an operator's login to the MLflow UI.
- ``pipelines``: the training, deployment and monitoring tasks and the ``ml-pipeline`` CLI. It MANAGEs every
  experiment and registered model (a ``*`` grant): the ones made before authentication was turned on (an upgraded
  home), and any that another user made first under a name a pipeline uses.
- ``serving``: the platform's model servers. It reads the registry (READ is every user's default permission) and
  may change no experiment or model it did not create: no alias of a model the pipelines created moves with its
  login. MLflow lets any logged-in user create new experiments and models, and their creator MANAGEs them: a model
  ``serving`` created first under a name no pipeline has registered yet is one whose aliases it could move (open).
  The canary's staging server, which a deployment task starts, logs in as ``serving`` too (connection
  ``mlflow_serving``).

Users are written straight into the auth database (``ensure_users``) before the server starts, so nothing waits
for it: the embedded supervisor does it while Airflow's database migrates, compose's ``mlflow-users`` service
(``python -m ml_platform.mlflow_auth``) before its ``mlflow`` service. Clients authenticate through MLflow's
``MLFLOW_TRACKING_USERNAME`` / ``MLFLOW_TRACKING_PASSWORD``; Airflow tasks take them from the ``mlflow_default``
connection's login and password (``MlflowHook``).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.process_logging import configure_logging
from ml_platform.secrets import MLFLOW_FLASK_SECRET, MLFLOW_PASSWORDS, read_secret, write_private

if TYPE_CHECKING:
    from ml_platform.layout import Layout

log = logging.getLogger(__name__)

ADMIN, PIPELINES, SERVING = "admin", "pipelines", "serving"
PASSWORD_SECRETS = MLFLOW_PASSWORDS
"""Each MLflow user's password: its name in the platform's secrets file."""
FLASK_SECRET = MLFLOW_FLASK_SECRET
"""The auth app's CSRF key (``MLFLOW_FLASK_SERVER_SECRET_KEY``): the same in every server worker."""
AUTH_DATABASE = "mlflow_auth"
"""The auth app's users and permissions: a database of their own beside MLflow's tracking store."""
CACHE_TTL_S = 60
"""How long a server worker trusts a checked password (MLflow's ``auth_cache_ttl_seconds``, off by default): each
check is a scrypt hash, ~0.4 s a request on two busy cores without the cache, ~12 ms a request with it
(benchmarks/results/mlflow_auth.json). A changed password is refused by every worker within this time."""
PASSWORD_ENV = {ADMIN: "MLFLOW_ADMIN_PASSWORD", PIPELINES: "MLFLOW_PIPELINES_PASSWORD",
                SERVING: "MLFLOW_SERVING_PASSWORD"}
"""Where ``python -m ml_platform.mlflow_auth`` reads each password (compose passes them from its secrets)."""


def config_text(database_uri: str, cache_ttl_s: int = CACHE_TTL_S) -> str:
    """The auth app's ini file: users in ``database_uri``, READ for every user, checked passwords cached."""
    escaped = database_uri.replace("%", "%%")  # configparser interpolates %
    return ("[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {escaped}\n"
            f"admin_username = {ADMIN}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            f"auth_cache_ttl_seconds = {cache_ttl_s}\n")


def write_config(path: Path, database_uri: str, cache_ttl_s: int = CACHE_TTL_S) -> Path:
    """Write the auth app's ini file (mode 0600: it names the auth database); returns ``path``."""
    write_private(path, config_text(database_uri, cache_ttl_s))
    return path


def server_env(config_path: Path, flask_secret: str) -> dict[str, str]:
    """What an ``mlflow server --app-name basic-auth`` process needs besides its tracking store."""
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config_path), "MLFLOW_FLASK_SERVER_SECRET_KEY": flask_secret}


def users_env(config_path: Path, secrets: Mapping[str, str]) -> dict[str, str]:
    """The environment of ``python -m ml_platform.mlflow_auth`` for a platform with these ``secrets``."""
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config_path),
            **{PASSWORD_ENV[user]: secrets[name] for user, name in PASSWORD_SECRETS.items()}}


def auth_database(layout: Layout) -> tuple[str, dict[str, str]]:
    """A platform's auth database: its URL for the ini file, and the environment that carries its password.

    An external server's URL holds a password: the file gets the URL without it, and the processes that read the
    file (the users job, MLflow's server) get it as libpq's ``PGPASSWORD``. The embedded server's URL names the
    platform's password file instead, and needs nothing.
    """
    import sqlalchemy as sa

    from ml_platform import database

    url = database.database_url(layout, AUTH_DATABASE)
    parsed = sa.make_url(url)
    if parsed.password is None:
        return url, {}
    bare = sa.URL.create(parsed.drivername, parsed.username, None, parsed.host, parsed.port, parsed.database,
                         parsed.query)
    return bare.render_as_string(hide_password=False), {"PGPASSWORD": str(parsed.password)}


def start_users(layout: Layout, secrets: Mapping[str, str], base_env: Mapping[str, str]) -> subprocess.Popen:
    """Write a platform's auth config and start ``python -m ml_platform.mlflow_auth`` for it (log: mlflow-users.log).

    ``base_env`` is the basics of a process; the caller waits for it before MLflow's server starts.
    """
    url, password_env = auth_database(layout)
    write_config(layout.mlflow_auth_config, url)
    env = {**base_env, **users_env(layout.mlflow_auth_config, secrets), **password_env}
    with open(layout.logs / "mlflow-users.log", "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "ml_platform.mlflow_auth"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=layout.home)


def client_env(user: str, password: str) -> dict[str, str]:
    """The variables MLflow's clients authenticate with."""
    return {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}


def airflow_env(mlflow_port: int, secrets: Mapping[str, str]) -> dict[str, str]:
    """What Airflow's processes hold of MLflow's users in the embedded platform.

    Connection ``mlflow_default`` (``pipelines``: what the tasks log in as), connection ``mlflow_serving``
    (``serving``: the model server a deployment task starts for its canary), and ``pipelines``'s login in the
    environment for everything else of Airflow's that calls MLflow.
    """
    password = secrets[PASSWORD_SECRETS[PIPELINES]]
    conn = {"conn_type": "http", "host": "127.0.0.1", "port": mlflow_port, "schema": "http"}
    return {"AIRFLOW_CONN_MLFLOW_DEFAULT": json.dumps({**conn, "login": PIPELINES, "password": password}),
            "AIRFLOW_CONN_MLFLOW_SERVING": json.dumps({**conn, "login": SERVING,
                                                       "password": secrets[PASSWORD_SECRETS[SERVING]]}),
            **client_env(PIPELINES, password)}


def platform_credentials(secrets_file: Path, user: str = PIPELINES) -> dict[str, str]:
    """``client_env`` of ``user`` from a platform's secrets file (empty when the file or the password is missing)."""
    password = read_secret(secrets_file, PASSWORD_SECRETS[user])
    return client_env(user, password) if password else {}


def use_platform_credentials(secrets_file: Path, mlflow_url: str | None = None) -> None:
    """Let this process's MLflow clients log in as ``pipelines``, unless its environment names a user already.

    With ``mlflow_url``, only when ``MLFLOW_TRACKING_URI`` is that platform's server: the password never goes to
    another one.
    """
    if "MLFLOW_TRACKING_USERNAME" in os.environ:
        return
    if mlflow_url is None or os.environ.get("MLFLOW_TRACKING_URI", "").rstrip("/") == mlflow_url:
        os.environ.update(platform_credentials(secrets_file))


def ensure_users(auth_database_uri: str, passwords: Mapping[str, str]) -> list[str]:
    """Create or update the platform's MLflow users in the auth database; return what changed, one line each.

    Idempotent: a user whose password still matches is left alone, one whose password changed gets the new one
    (a rotated secret). ``admin`` is MLflow's admin; the others are not. ``pipelines`` MANAGEs every experiment and
    registered model (a wildcard grant): those made before authentication was turned on, and any that another user
    made under a name a pipeline will use (``serving`` may create models; it cannot lock the pipelines out of one).
    """
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore()
    store.init_db(auth_database_uri)  # creates and migrates the auth tables
    try:
        changes = []
        for user, password in passwords.items():
            if not store.has_user(user, use_primary=True):
                store.create_user(user, password, is_admin=user == ADMIN)
                changes.append(f"created MLflow user {user}")
            elif not store.authenticate_user(user, password, use_primary=True):
                store.update_user(user, password=password)  # the secrets file wins over a password set in the UI
                changes.append(f"new password for MLflow user {user}")
        if PIPELINES in passwords:
            changes += _manage_everything(store, PIPELINES)
        return changes
    finally:
        store.engine.dispose()


def _manage_everything(store, user: str) -> list[str]:
    """MANAGE for ``user`` on every experiment and registered model (MLflow's ``*`` grant), unless it has it."""
    from mlflow.utils.workspace_utils import DEFAULT_WORKSPACE_NAME

    granted = []
    user_id = store.get_user(user).id
    for resource_type in ("experiment", "registered_model"):
        grants = store.list_grants(user_id, DEFAULT_WORKSPACE_NAME, {resource_type})
        if not any((g.resource_type, g.resource_pattern, g.permission) == (resource_type, "*", "MANAGE")
                   for g in grants):
            store.grant_user_permission(user, resource_type, "*", "MANAGE")
            granted.append(f"MANAGE on every {resource_type} for {user}")
    return granted


def main(argv: list[str] | None = None) -> int:
    """``python -m ml_platform.mlflow_auth``: create or update the users from the environment (compose, Kubernetes).

    Reads the auth database from ``MLFLOW_AUTH_CONFIG_PATH``'s ini file (or ``--auth-database``) and each password
    from ``PASSWORD_ENV``; a missing one is named and nothing is written.
    """
    import configparser

    parser = argparse.ArgumentParser(prog="python -m ml_platform.mlflow_auth", description=main.__doc__)
    parser.add_argument("--auth-database", help="the auth database's URL (default: from MLFLOW_AUTH_CONFIG_PATH)")
    args = parser.parse_args(argv)
    configure_logging("%(message)s")
    missing = [name for name in PASSWORD_ENV.values() if not os.environ.get(name)]
    if missing:
        print(f"mlflow users: {', '.join(missing)} not set: set each to that user's password "
              "(`ml-platform compose-env` generates them)", file=sys.stderr)
        return 2
    auth_database = args.auth_database
    if not auth_database:
        config_path = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
        if not config_path or not Path(config_path).is_file():
            print(f"mlflow users: MLFLOW_AUTH_CONFIG_PATH ({config_path!r}) names no ini file: point it at the auth "
                  "app's config, or pass --auth-database", file=sys.stderr)
            return 2
        config = configparser.ConfigParser()
        config.read(config_path)
        auth_database = config["mlflow"]["database_uri"]
    for change in ensure_users(auth_database, {user: os.environ[name] for user, name in PASSWORD_ENV.items()}):
        log.info(change)
    return 0


if __name__ == "__main__":
    sys.exit(main())
