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
    """The variables a ``.env`` sets, and its problems (by line): no ``=``, no name, a name twice, an empty secret."""
    names: dict[str, int] = {}
    problems = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.removeprefix("export ").partition("=")
        name, value = name.strip(), value.strip().strip("'\"")
        if not equals or not name.isidentifier():
            start = re.split(r"[=\s:]", line, maxsplit=1)[0][:40]  # never the value: it may be a password
            problems.append(f"line {number} is no NAME=value (it starts {start!r})")
        elif name in names:
            problems.append(f"line {number}: {name} is set twice (first on line {names[name]})")
        elif name in required and not value:
            problems.append(f"line {number}: {name} is empty")
        names.setdefault(name, number)
    return set(names), problems


def write_compose_env(path: Path, force: bool = False) -> list[str]:
    """Write ``path`` (mode 0600); return the names of the variables written.

    An existing file keeps its values (its Fernet key encrypts stored connections, its passwords are in the
    volumes): only the variables it lacks, which a later release added (``ML_PLATFORM_LINEAGE_TOKEN``), are appended.
    ``force`` replaces the whole file with new secrets.
    """
    fresh = compose_env()
    if path.exists() and not force:
        text = path.read_text()
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
    write_private(path, "".join(f"{name}={value}\n" for name, value in sorted(fresh.items())))
    return sorted(fresh)
