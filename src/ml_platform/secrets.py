"""Secrets generated on first start, kept in a file only the user can read."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

ADMIN_USER = "admin"
DATABASE_PASSWORD = "database_password"
DATABASE_ROLE_PASSWORDS = {role: f"database_password_{role}" for role in ("airflow", "mlflow", "ml_platform")}
"""Each login role's password on the embedded PostgreSQL (``ml_platform.database_roles``): its name in the file."""
SERVING_ADMIN_TOKEN = "serving_admin_token"
MLFLOW_PASSWORDS = {"admin": "mlflow_admin_password", "pipelines": "mlflow_pipelines_password",
                    "serving": "mlflow_serving_password"}
"""Each MLflow user's password (``ml_platform.mlflow_auth``): its name in the secrets file."""
MLFLOW_FLASK_SECRET = "mlflow_flask_secret_key"
ADDED_LATER = {
    # the Bearer token of the OpenLineage HTTP transport, checked by the platform's lineage receiver
    "lineage_token": lambda: secrets.token_urlsafe(32),
    # the embedded PostgreSQL's superuser password (scram-sha-256); libpq reads it from the platform's pgpass file
    DATABASE_PASSWORD: lambda: secrets.token_urlsafe(32),
    # its login roles, one per service, each owner of its own databases (ml_platform.database_roles)
    **{name: (lambda: secrets.token_urlsafe(32)) for name in DATABASE_ROLE_PASSWORDS.values()},
    # the model servers' admin token (ML_SERVING_ADMIN_TOKEN), the password of the `serving_default` connection
    SERVING_ADMIN_TOKEN: lambda: secrets.token_urlsafe(32),
    # MLflow's users (ml_platform.mlflow_auth) and its auth app's CSRF key
    **{name: (lambda: secrets.token_urlsafe(24)) for name in MLFLOW_PASSWORDS.values()},
    MLFLOW_FLASK_SECRET: lambda: secrets.token_urlsafe(32),
}
"""Secrets newer than the first platforms: generated into an existing secrets file too."""


REQUIRED = ("fernet_key", "jwt_secret", "api_secret_key", "admin_user", "admin_password")
"""What every secrets file holds since the first platform: without one of them it is damaged, not old."""


class SecretsError(ValueError):
    """The secrets file is damaged, or missing while data made with it exists; the message says how to repair it."""


def load_secrets(path: Path) -> dict[str, str]:
    """The secrets of an existing file, checked: a JSON object of text values holding ``REQUIRED``.

    Raises:
        SecretsError: The file cannot be read, or is not such an object (nothing is written: its values encrypt the
            platform's data and are its databases' passwords).
    """
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # ValueError: not JSON, or not UTF-8
        raise SecretsError(_damaged(path, f"{type(exc).__name__}: {exc}")) from exc
    if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
        raise SecretsError(_damaged(path, "not a JSON object of text values"))
    if missing := [name for name in REQUIRED if not values.get(name)]:
        raise SecretsError(_damaged(path, f"{', '.join(missing)} missing or empty"))
    return values


def _damaged(path: Path, why: str) -> str:
    return (f"{path} is damaged ({why}): restore it from a backup of the platform's home. Its values encrypt "
            "Airflow's connections and are the databases' passwords: never delete it while the platform holds data")


def ensure_secrets(path: Path, passwords_file: Path) -> dict[str, str]:
    """Load the secrets file, creating it (mode 0600) with fresh values on first use.

    A secret added by a newer platform (``ADDED_LATER``) is generated into an existing file, which keeps the rest.

    Raises:
        SecretsError: The file is damaged, or missing while the embedded database made with it (``pgdata`` beside
            it) exists: new secrets could not open it, and would encrypt nothing that is stored.
    """
    if path.exists():
        values = load_secrets(path)
        added = {name: make() for name, make in ADDED_LATER.items() if name not in values}
        if added:
            values.update(added)
            write_private(path, json.dumps(values, indent=2))
    elif (path.parent / "pgdata" / "PG_VERSION").exists():
        raise SecretsError(f"{path} is missing, but the platform's database {path.parent / 'pgdata'} was made with it: "
                           "restore it from a backup of the platform's home; to start afresh instead, move the "
                           "pgdata folder away (its data cannot be opened without that file)")
    else:
        values = {
            "fernet_key": Fernet.generate_key().decode(),
            "jwt_secret": secrets.token_urlsafe(64),  # HS512 wants 64 bytes or more (the API server warns below)
            "api_secret_key": secrets.token_urlsafe(32),
            "admin_user": ADMIN_USER,
            "admin_password": secrets.token_urlsafe(12),
            **{name: make() for name, make in ADDED_LATER.items()},
        }
        write_private(path, json.dumps(values, indent=2))
    write_private(passwords_file, json.dumps({values["admin_user"]: values["admin_password"]}))
    return values


def read_secret(path: Path, name: str) -> str | None:
    """One value of an existing secrets file (None: no file yet, or a file without it); never creates the file."""
    if not path.exists():
        return None
    return load_secrets(path).get(name)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (0600), whole or not at all.

    Written beside it and moved over it: a crash or a full disk never leaves the file cut short (a secrets file
    cut short would lose the key that encrypts the platform's connections).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
