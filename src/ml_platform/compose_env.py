"""``ml-platform compose-env``: the ``.env`` of ``docker-compose.yaml``, with every secret generated (no defaults)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from ml_pipeline.training.resources import detect_gpus
from ml_platform.secrets import write_private

# Every variable docker-compose.yaml requires (`${NAME:?…}`); values are generated, never shipped.
# Each service gets only its own: one PostgreSQL role per database, one MinIO user per client, the model servers'
# admin token, one MLflow user per client (deploy/compose/create-databases.sql, deploy/compose/minio-init.sh,
# src/ml_platform/mlflow_auth.py).
SECRET_NAMES = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "AIRFLOW_ADMIN_PASSWORD",
                "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "ML_PLATFORM_LINEAGE_TOKEN",
                "POSTGRES_AIRFLOW_PASSWORD", "POSTGRES_MLFLOW_PASSWORD", "POSTGRES_ML_PLATFORM_PASSWORD",
                "POSTGRES_FEAST_PASSWORD", "MINIO_AIRFLOW_PASSWORD", "MINIO_MLFLOW_PASSWORD", "MINIO_SERVING_PASSWORD",
                "ML_SERVING_ADMIN_TOKEN", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_PIPELINES_PASSWORD",
                "MLFLOW_SERVING_PASSWORD", "MLFLOW_FLASK_SECRET_KEY")


def compose_env() -> dict[str, str]:
    """Fresh values for every variable the compose file needs."""
    values = {name: secrets.token_urlsafe(24) for name in SECRET_NAMES}
    values["AIRFLOW_JWT_SECRET"] = secrets.token_urlsafe(64)  # HS512 wants 64 bytes or more
    values["AIRFLOW_FERNET_KEY"] = Fernet.generate_key().decode()
    values["MINIO_ROOT_USER"] = "ml-platform"
    values["AIRFLOW_ADMIN_USER"] = "admin"
    values["CELERY_WORKERS"] = "2"
    values["ML_PLATFORM_GPUS"] = str(detect_gpus())  # this host's GPUs: the gpu pool's slots
    values["ML_PLATFORM_TRAINING_SLOTS"] = "2"
    return values


class EnvFileError(ValueError):
    """An existing ``.env`` has lines docker compose would refuse or read differently; the message names them."""


def read_env_lines(text: str, required: set[str]) -> tuple[set[str], list[str]]:
    """The variables a ``.env`` sets, and its problems (by line): a line that sets nothing, an empty secret.

    ``NAME=value``, ``export NAME=value`` and ``NAME: value`` set ``NAME`` (docker compose reads all three; a name
    set twice, the last wins). A line is never quoted back: it may hold a password.
    """
    names: set[str] = set()
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"(?:export\s+)?([^=:\s]+)\s*[=:]\s*(.*)", line)
        if not match or not match[1].isidentifier():
            problems.append(f"line {number} sets no variable (write NAME=value)")
            continue
        names.add(match[1])
        if match[1] in required and not match[2].strip().strip("'\""):
            problems.append(f"line {number}: {match[1]} is empty")
    return names, problems


def write_compose_env(path: Path, force: bool = False) -> list[str]:
    """Write ``path`` (mode 0600); return the names of the variables written.

    An existing file keeps its values (its Fernet key encrypts stored connections, its passwords are in the
    volumes): only the variables it lacks, which a later release added (``ML_PLATFORM_LINEAGE_TOKEN``), are appended.
    ``force`` replaces the whole file with new secrets.
    """
    fresh = compose_env()
    if path.is_dir():
        raise EnvFileError(f"{path}: a folder: --path names the .env file to write (e.g. {path / '.env'})")
    if path.exists() and not force:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise EnvFileError(f"{path}: cannot be read as text ({type(exc).__name__}: {exc}); nothing was changed. "
                               "Fix it, or --force to write all new secrets (only for a platform that has no data "
                               "yet)") from None
        present, problems = read_env_lines(text, set(fresh))
        if problems:
            raise EnvFileError(f"{path}: " + "; ".join(problems) + ". Fix those lines and run it again (nothing "
                               "was changed; a generated value must not replace a password a data volume holds), "
                               "or --force to write all new secrets (only for a platform that has no data yet)")
        missing = {name: value for name, value in sorted(fresh.items()) if name not in present}
        if missing:
            ending = "" if not text or text.endswith("\n") else "\n"
            write_private(path, text + ending + "".join(f"{name}={value}\n" for name, value in missing.items()))
        return list(missing)
    try:
        write_private(path, "".join(f"{name}={value}\n" for name, value in sorted(fresh.items())))
    except OSError as exc:  # a parent that is a file, no permission, a full disk
        raise EnvFileError(f"{path}: cannot be written ({type(exc).__name__}: {exc}); nothing was changed: "
                           "--path names a file in a folder this user can write") from None
    return sorted(fresh)
