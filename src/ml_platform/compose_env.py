"""``ml-platform compose-env``: the ``.env`` of ``docker-compose.yaml``, with every secret generated (no defaults)."""

from __future__ import annotations

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from ml_pipeline.training.resources import detect_gpus
from ml_platform.secrets import write_private

# Every variable docker-compose.yaml requires (`${NAME:?…}`); values are generated, never shipped.
SECRET_NAMES = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD", "AIRFLOW_ADMIN_PASSWORD",
                "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY")


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


def write_compose_env(path: Path, force: bool = False) -> Path:
    """Write ``path`` (mode 0600); an existing file is kept unless ``force`` (its secrets encrypt data)."""
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists: its Fernet key encrypts your connections; pass --force to replace it")
    write_private(path, "".join(f"{name}={value}\n" for name, value in sorted(compose_env().items())))
    return path
