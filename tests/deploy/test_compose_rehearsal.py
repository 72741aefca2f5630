"""docker-compose.yaml rehearsed without Docker: its services' own command lines and environments, run natively.

Only the compose host names and ports change (``postgres:5432``, ``minio:9000``, the server's own bind address and
port), for loopback stand-ins: a PostgreSQL cluster made as the postgres image makes it, running the compose file's
own init script with the postgres service's environment (a throwaway cluster: the roles it creates are
cluster-wide, so not on the machine's shared server), and an S3 server (moto) for MinIO. The servers are called as
their clients call them in compose: ``http://mlflow:5000`` reaches MLflow with ``Host: mlflow:5000``.
"""

from __future__ import annotations

import json
import os
import subprocess
from urllib.parse import urlsplit

import httpx
import psycopg2
import pytest

from ml_platform.components import BIN
from ml_platform.compose_env import compose_env
from tests.deploy.compose_file import argv, environment, resolved_services
from tests.deploy.rehearsal import connect, free_port, mounted_files, postgres_like_the_image, s3_server, swap_hosts
from tests.support.services import running_process

SEARCH = "/api/2.0/mlflow/experiments/search?max_results=1"


@pytest.fixture(scope="module")
def services():
    return resolved_services(compose_env())


@pytest.fixture(scope="module")
def backing(services, tmp_path_factory):
    """PostgreSQL and S3 stand-ins; yields the swap of compose host:port for their loopback addresses."""
    with postgres_like_the_image(tmp_path_factory.mktemp("postgres"), environment(services["postgres"])) as pg, \
            s3_server(("lake", "mlflow")) as s3:
        yield {"postgres:5432": f"127.0.0.1:{pg}", "minio:9000": f"127.0.0.1:{s3}"}


def native_env(service: dict, backing: dict[str, str], home) -> dict[str, str]:
    """What compose gives the service's container, on loopback: nothing of this machine's MLflow or AWS settings."""
    inherited = {name: value for name, value in os.environ.items()
                 if not name.startswith(("MLFLOW_", "AWS_", "PG"))}
    own = {name: swap_hosts(value, backing) for name, value in environment(service).items()}
    return {**inherited, **mounted_files(service, own, backing, home)}


@pytest.fixture(scope="module")
def mlflow(services, backing, tmp_path_factory):
    """The compose mlflow-users service run once, then the mlflow service's command and environment; yields its
    URL on loopback."""
    home = tmp_path_factory.mktemp("mlflow")
    users = services["mlflow-users"]
    created = subprocess.run([str(BIN / "python") if arg == "python" else arg for arg in argv(users["command"])],
                             env=native_env(users, backing, home), cwd=home, capture_output=True, text=True,
                             timeout=120)
    assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-2000:]
    service, port = services["mlflow"], free_port()
    assert service.get("entrypoint") == [], "mlflow: the image's Airflow entrypoint must be cleared"
    command = argv(service["command"])
    assert command[0] == "mlflow", command
    command = [str(BIN / "mlflow"), *command[1:]]
    command[command.index("--host") + 1] = "127.0.0.1"
    command[command.index("--port") + 1] = str(port)
    command = [swap_hosts(arg, backing) for arg in command]
    with running_process(command, native_env(service, backing, home), home, f"http://127.0.0.1:{port}/health",
                         timeout=180):
        yield f"http://127.0.0.1:{port}"


def login(service: dict) -> tuple[str, str]:
    """The MLflow user and password a service's clients send."""
    env = environment(service)
    return env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]


def client_hosts(services) -> set[str]:
    """The Host headers MLflow's clients send: the tracking URIs of the Airflow tasks and the model servers."""
    uris = {environment(services["worker"])["MLFLOW_TRACKING_URI"]}
    for service in services.values():
        command = argv(service.get("command"))
        if "--tracking-uri" in command:
            uris.add(command[command.index("--tracking-uri") + 1])
    return {urlsplit(uri).netloc for uri in uris}


def test_mlflow_answers_its_clients_by_the_name_they_call_it(services, mlflow, backing):
    hosts = client_hosts(services)
    assert hosts == {"mlflow:5000"}
    auth = login(services["worker"])
    for host in hosts:
        answer = httpx.get(f"{mlflow}{SEARCH}", headers={"Host": host}, auth=auth, timeout=30)
        assert answer.status_code == 200, f"Host {host}: {answer.status_code} {answer.text[:200]}"
        # an artifact goes through MLflow (--serve-artifacts) into its bucket with the credentials compose gives it,
        # under an experiment its client may write to (MLflow checks artifact paths against the experiment's id)
        made = httpx.post(f"{mlflow}/api/2.0/mlflow/experiments/create", json={"name": f"rehearsal-{host}"},
                          headers={"Host": host}, auth=auth, timeout=30)
        assert made.status_code == 200, made.text[:300]
        artifact = f"{mlflow}/api/2.0/mlflow-artifacts/artifacts/{made.json()['experiment_id']}/hello.txt"
        put = httpx.put(artifact, content=b"hello", headers={"Host": host}, auth=auth, timeout=30)
        assert put.status_code == 200, put.text[:300]
        got = httpx.get(artifact, headers={"Host": host}, auth=login(services["serving-fraud-detection"]), timeout=30)
        assert got.content == b"hello"
    # a name compose never uses is still refused: the host check is on, not switched off
    assert httpx.get(f"{mlflow}{SEARCH}", headers={"Host": "elsewhere.example:5000"}, auth=auth,
                     timeout=30).status_code == 403


def test_mlflow_refuses_anonymous_calls_and_the_model_server_only_reads(services, mlflow):
    """Every call logs in; the Airflow tasks (connection and environment) manage what they create; the published
    model server's user reads the registry and moves nothing; the admin the users service made logs in."""
    host = {"Host": "mlflow:5000"}
    api = f"{mlflow}/api/2.0/mlflow"
    assert httpx.get(f"{mlflow}{SEARCH}", headers=host, timeout=30).status_code == 401
    assert httpx.get(f"{mlflow}{SEARCH}", headers=host, auth=("pipelines", "wrong-password-1"),
                     timeout=30).status_code == 401
    pipelines, serving = login(services["worker"]), login(services["serving-fraud-detection"])
    assert pipelines[0] == "pipelines" and serving[0] == "serving"
    for name in ("scheduler", "worker", "api-server", "dag-processor", "triggerer"):
        connection = json.loads(environment(services[name])["AIRFLOW_CONN_MLFLOW_DEFAULT"])
        assert (connection["login"], connection["password"]) == pipelines, name
        # the canary's staging model server, which a deployment task starts, logs in as the model servers do
        staging = json.loads(environment(services[name])["AIRFLOW_CONN_MLFLOW_SERVING"])
        assert (staging["login"], staging["password"]) == serving, name
    made = httpx.post(f"{api}/registered-models/create", json={"name": "rehearsal"}, headers=host, auth=pipelines,
                      timeout=30)
    assert made.status_code == 200, made.text[:300]
    read = httpx.get(f"{api}/registered-models/get", params={"name": "rehearsal"}, headers=host, auth=serving,
                     timeout=30)
    assert read.status_code == 200, read.text[:300]
    for path, body in (("registered-models/alias", {"name": "rehearsal", "alias": "champion", "version": "1"}),
                       ("model-versions/create", {"name": "rehearsal", "source": "mlflow-artifacts:/x"})):
        refused = httpx.post(f"{api}/{path}", json=body, headers=host, auth=serving, timeout=30)
        assert refused.status_code == 403, f"serving may not {path}: {refused.status_code} {refused.text[:200]}"
    # MLflow's auth app answers 403, not 404, for an alias of a model that does not exist (what the first training
    # asks): mlflow_registry.alias_version reads it as "no champion" once the model itself is not found
    host_only = {"headers": host, "auth": pipelines, "timeout": 30}
    assert httpx.get(f"{api}/registered-models/alias", params={"name": "none", "alias": "champion"},
                     **host_only).status_code == 403
    assert httpx.get(f"{api}/registered-models/get", params={"name": "none"}, **host_only).status_code == 404
    # any logged-in user may create a model, serving too: under a name a pipeline will use it still locks nobody
    # out, since pipelines MANAGE every model (the users service's wildcard grant)
    squatted = httpx.post(f"{api}/registered-models/create", json={"name": "squatted"}, headers=host, auth=serving,
                          timeout=30)
    assert squatted.status_code == 200, squatted.text[:300]
    managed = httpx.patch(f"{api}/registered-models/update", json={"name": "squatted", "description": "ours"},
                         headers=host, auth=pipelines, timeout=30)
    assert managed.status_code == 200, f"pipelines locked out of a model serving made: {managed.text[:300]}"
    admin = ("admin", environment(services["mlflow-users"])["MLFLOW_ADMIN_PASSWORD"])
    users = httpx.get(f"{api}/users/get", params={"username": "serving"}, headers=host, auth=admin, timeout=30)
    assert users.status_code == 200 and users.json()["user"]["is_admin"] is False, users.text[:300]


def test_mlflow_health_check_fails_when_its_clients_would_be_refused(services, mlflow):
    test = services["mlflow"]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL", test
    check = test[1].replace("http://localhost:5000", mlflow).replace("$$", "$")
    assert subprocess.run(["sh", "-c", check], capture_output=True, timeout=60).returncode == 0
    # the same check sent by a name MLflow refuses fails: it would have caught a missing --allowed-hosts
    refused = check.replace("Host: mlflow:5000", "Host: elsewhere.example:5000")
    assert refused != check, "mlflow's health check must send its clients' Host header (Host: mlflow:5000)"
    assert subprocess.run(["sh", "-c", refused], capture_output=True, timeout=60).returncode != 0


def test_each_service_reaches_its_own_database_and_no_other(services, backing):
    """The DSNs compose gives each service log in to the roles the init script made; no role reaches another's."""
    airflow = environment(services["worker"])
    feast_registry = json.loads(airflow["AIRFLOW_CONN_FEATURE_STORE_DEFAULT"])
    dsns = {"airflow": airflow["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"],
            "ml_platform": airflow["AIRFLOW_CONN_ML_PLATFORM_DB"],
            "feast": feast_registry["extra"]["registry"]["path"],
            "mlflow": environment(services["mlflow"])["MLFLOW_BACKEND_STORE_URI"]}
    passwords = {"mlflow": environment(services["mlflow"])["PGPASSWORD"]}  # libpq's, beside a password-less URL
    for name, dsn in dsns.items():
        dsn = swap_hosts(dsn, backing)
        with connect(dsn, passwords.get(name)) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user")
            assert cur.fetchone() == (name, name, False), f"{name}: {dsn.split('@')[-1]}"
            cur.execute("CREATE TABLE rehearsal (id int)")  # the owner may create its tables
        for other in set(dsns) - {name}:
            with pytest.raises(psycopg2.OperationalError, match="permission denied"):
                connect(dsn.rsplit("/", 1)[0] + f"/{other}", passwords.get(name))
    # MLflow's users and permissions: a database of their own, MLflow's role's too
    with connect(swap_hosts(dsns["mlflow"], backing) + "_auth", passwords["mlflow"]) as conn, conn.cursor() as cur:
        cur.execute("SELECT current_database()")
        assert cur.fetchone() == ("mlflow_auth",)
