"""deploy/helm/values.yaml and docker-compose.yaml carry the embedded platform's Airflow settings, its dead-letter
spool and a pinned image (no helm binary here: the values are read, not rendered)."""

from __future__ import annotations

import tomllib

import pytest
import yaml

from ml_platform.components import LOCAL_EXECUTOR_TUNING, SCHEDULER_TUNING, platform_env
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets
from tests.conftest import REPO_ROOT
from tests.deploy.compose_file import compose_text, environment

HELM = REPO_ROOT / "deploy" / "helm" / "values.yaml"
# Settings that say where things are or hold secrets: each deployment shape sets its own.
WHERE = {"AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CORE__PARALLELISM",
         "AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
         "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE",
         "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__API__HOST", "AIRFLOW__API__PORT", "AIRFLOW__API__BASE_URL",
         "AIRFLOW__API__WORKERS", "AIRFLOW__API__SECRET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET",
         "AIRFLOW__OPENLINEAGE__TRANSPORT"}
# the chart runs the DAG processor as its own deployment and sets this itself
SET_BY_THE_CHART = {"AIRFLOW__SCHEDULER__STANDALONE_DAG_PROCESSOR"}
# production shapes keep Airflow's default, new DAGs paused until an operator has pointed their sources at real data;
# the embedded platform (generated data, `make demo`) runs an enabled model's DAGs from the start
PRODUCTION_CHOICE = {"AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    """The embedded platform's Airflow settings (``AIRFLOW__…``), less where things are and the StatsD exporter's."""
    layout = Layout.on_free_ports(tmp_path_factory.mktemp("platform"))
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    return {**{name: value for name, value in env.items() if name.startswith("AIRFLOW__") and name not in WHERE
               and not name.startswith("AIRFLOW__METRICS__")}, **PRODUCTION_CHOICE,
            **{name: SCHEDULER_TUNING[name] for name in LOCAL_EXECUTOR_TUNING}}  # both shapes run Celery


@pytest.fixture(scope="module")
def values():
    return yaml.safe_load(HELM.read_text())


def test_compose_runs_airflow_with_the_platforms_settings(platform):
    for name, service in compose_text()["services"].items():
        env = environment(service)
        if "AIRFLOW__CORE__EXECUTOR" in env:
            for setting, value in platform.items():
                assert env.get(setting) == value, \
                    f"docker-compose.yaml: services.{name}.environment.{setting} is {env.get(setting)!r}, " \
                    f"the platform sets {value!r} (src/ml_platform/components.py)"


def test_helm_runs_airflow_with_the_platforms_settings(platform, values):
    for setting, value in platform.items():
        if setting in SET_BY_THE_CHART:
            continue
        section, key = setting.removeprefix("AIRFLOW__").lower().split("__")
        given = values["config"].get(section, {}).get(key)
        assert given is not None and str(given) == value, \
            f"deploy/helm/values.yaml: config.{section}.{key} is {given!r}, the platform sets {value!r}"


def test_helm_spools_dead_letters_on_a_volume_every_airflow_pod_mounts(values):
    spools = [item["value"] for item in values["env"] if item["name"] == "ML_PLATFORM_DLQ_SPOOL"]
    assert len(spools) == 1, "deploy/helm/values.yaml: set env ML_PLATFORM_DLQ_SPOOL once"
    mounts = [mount for mount in values.get("volumeMounts") or () if mount["mountPath"] == spools[0]]
    assert mounts, f"deploy/helm/values.yaml: volumeMounts has nothing on {spools[0]}"
    [volume] = [volume for volume in values.get("volumes") or () if volume["name"] == mounts[0]["name"]]
    assert volume["persistentVolumeClaim"]["claimName"], "deploy/helm/values.yaml: the spool needs a claim"
    compose_spool = environment(compose_text()["services"]["worker"])["ML_PLATFORM_DLQ_SPOOL"]
    assert spools[0] == compose_spool  # one path, baked into the image with the airflow user as owner


def test_helm_pins_our_image_and_takes_no_secret_as_a_value(values):
    version = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert values["images"]["airflow"]["tag"] == version and values["defaultAirflowTag"] == version
    for item in values["env"]:
        assert "secret" not in item["name"].lower() and "password" not in item["name"].lower(), item["name"]
    assert "ml-platform-connections" in values["extraEnvFrom"]
