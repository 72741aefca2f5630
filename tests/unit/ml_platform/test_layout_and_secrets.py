import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ml_platform import database
from ml_platform.components import components, platform_env
from ml_platform.layout import Layout, UnsafeDirectoryError, private_dir
from ml_platform.secrets import ADDED_LATER, ensure_secrets


def test_socket_dir_stays_short_enough_for_a_unix_socket(tmp_path):
    deep = Layout(tmp_path / ("x" * 90))
    assert len(str(deep.socket_dir / ".s.PGSQL.5432")) < 107
    assert Layout(tmp_path).socket_dir == tmp_path / "run"


def test_secrets_are_private_generated_once_and_feed_the_password_file(tmp_path):
    layout = Layout(tmp_path)
    first = ensure_secrets(layout.secrets_file, layout.passwords_file)
    again = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert first == again
    assert stat.S_IMODE(layout.secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.passwords_file.stat().st_mode) == 0o600
    assert first["admin_password"] in layout.passwords_file.read_text()
    assert len({first["fernet_key"], first["jwt_secret"], first["api_secret_key"]}) == 3


def test_embedded_default_uses_a_socket_and_production_an_external_server(tmp_path, monkeypatch):
    layout = Layout(tmp_path, airflow_port=18080, mlflow_port=15000)
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://airflow@/airflow?host={tmp_path}/run&passfile={tmp_path}/pgpass")
    assert env["AIRFLOW__CORE__EXECUTOR"].endswith(".PreloadingLocalExecutor")  # Airflow's, preloading
    assert '"port": 15000' in env["AIRFLOW_CONN_MLFLOW_DEFAULT"]
    assert [c.name for c in components(layout)][0] == "postgres"
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:pw@db.internal:5432")
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://ml:pw@db.internal:5432/airflow"
    assert "postgres" not in [c.name for c in components(layout)]


def test_task_slots_and_idle_sleep_local_and_celery(tmp_path):
    """32 task processes by default; under Celery each worker has half again as many slots (a pool process stays busy
    after its task ended), and the scheduler queues up to twice all workers' slots (a freed worker process finds its
    next task waiting in the broker). The LocalExecutor's scheduler sleeps 0.1 s after an idle loop (its executor
    sleeps the rest of 0.25 s while no task runs), Celery's 0.25 s; a value in the environment wins. Celery's task
    states go to the metadata database unless the environment names another result backend."""
    code = ("import sys, json; from pathlib import Path; from ml_platform.layout import Layout;"
            "from ml_platform.components import platform_env;"
            "from ml_platform.secrets import ensure_secrets;"
            "layout = Layout(Path(sys.argv[1]), airflow_port=1, mlflow_port=2);"
            "env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file));"
            "print(json.dumps([env['AIRFLOW__CORE__PARALLELISM'], env.get('AIRFLOW__CELERY__WORKER_CONCURRENCY'),"
            "                  env['AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME'],"
            "                  env.get('AIRFLOW__CELERY__RESULT_BACKEND')]))")
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("ML_PLATFORM_") and k not in ("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME",
                                                              "AIRFLOW__CELERY__RESULT_BACKEND")}
    celery = {"ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_DATABASE_URL": "postgresql://db:5432"}
    states = "db+postgresql+psycopg2://db:5432/airflow"
    cases = (({}, ["32", None, "0.1", None]),
             ({"AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "1"}, ["32", None, "1", None]),
             (celery, ["96", "48", "0.25", states]),
             ({**celery, "ML_PLATFORM_CELERY_WORKERS": "3", "ML_PLATFORM_PARALLELISM": "8"},
              ["72", "12", "0.25", states]),
             ({**celery, "ML_PLATFORM_CELERY_CONCURRENCY": "5"}, ["10", "5", "0.25", states]),
             ({**celery, "AIRFLOW__CELERY__RESULT_BACKEND": "redis://r:6379/1"},
              ["96", "48", "0.25", "redis://r:6379/1"]))
    for extra, expected in cases:
        out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], env={**base, **extra}, capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, out.stderr[-2000:]
        assert json.loads(out.stdout.strip().splitlines()[-1]) == expected


def test_a_secrets_file_of_an_older_platform_gets_the_newer_secrets_and_keeps_its_own(tmp_path):
    layout = Layout(tmp_path)
    old = {"fernet_key": "k", "jwt_secret": "j", "api_secret_key": "a", "admin_user": "admin", "admin_password": "p"}
    layout.secrets_file.write_text(json.dumps(old))
    values = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert {"database_password", "database_password_airflow", "database_password_mlflow",
            "database_password_ml_platform", "serving_admin_token"} <= set(ADDED_LATER)
    assert values == {**old, **{name: values[name] for name in ADDED_LATER}}
    assert json.loads(layout.secrets_file.read_text()) == values


@pytest.fixture
def fallback_socket_dir(tmp_path):
    """The /tmp socket folder of a home too deep for a socket path; removed after."""
    path = Layout(tmp_path / ("x" * 90)).socket_dir
    assert path.parent == Path("/tmp")
    yield path
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def test_the_tmp_socket_folder_is_created_private(fallback_socket_dir):
    private_dir(fallback_socket_dir, {os.geteuid()})
    info = fallback_socket_dir.lstat()
    assert stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.geteuid()
    private_dir(fallback_socket_dir, {os.geteuid()})  # the next start takes its own folder again


def test_a_planted_link_or_file_in_place_of_the_tmp_socket_folder_is_refused(fallback_socket_dir, tmp_path):
    fallback_socket_dir.symlink_to(tmp_path)
    with pytest.raises(UnsafeDirectoryError, match=f"{fallback_socket_dir}: .*a symbolic link.*ML_PLATFORM_HOME"):
        private_dir(fallback_socket_dir, {os.geteuid()})
    fallback_socket_dir.unlink()
    fallback_socket_dir.write_text("")
    with pytest.raises(UnsafeDirectoryError, match="not a folder"):
        private_dir(fallback_socket_dir, {os.geteuid()})


def test_a_tmp_socket_folder_of_another_user_is_refused(fallback_socket_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root: the test hands the folder to another user (chown)")
    fallback_socket_dir.mkdir()
    fallback_socket_dir.chmod(0o777)
    os.chown(fallback_socket_dir, 65534, 65534)  # nobody's, as another user would plant it
    with pytest.raises(UnsafeDirectoryError, match="belongs to uid 65534"):
        private_dir(fallback_socket_dir, {os.geteuid()})
    assert stat.S_IMODE(fallback_socket_dir.stat().st_mode) == 0o777  # left as it was, not taken over


class LowestFreePortKernel:
    """``socket.socket`` as a kernel that hands out the lowest free port for ``bind(("127.0.0.1", 0))``: what a real
    one may do with a port closed a moment ago (an instance once got its MLflow and e-mail sink ports equal)."""

    bound: set[int] = set()

    def __init__(self, *args, **kwargs):
        self.port = None

    def bind(self, address):
        port = address[1] or min(p for p in range(40000, 41000) if p not in self.bound)
        if port in self.bound:
            raise OSError(98, "Address already in use")
        self.port = port
        self.bound.add(port)

    def getsockname(self):
        return ("127.0.0.1", self.port)

    def close(self):
        self.bound.discard(self.port)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_an_instance_on_free_ports_never_gets_one_port_twice(tmp_path, monkeypatch):
    import socket

    monkeypatch.setattr(LowestFreePortKernel, "bound", set())
    monkeypatch.setattr(socket, "socket", LowestFreePortKernel)
    layout = Layout.on_free_ports(tmp_path)
    tcp = [layout.airflow_port, layout.mlflow_port, layout.slack_sink_port, layout.smtp_sink_port,
           layout.metrics_port, layout.prometheus_port]
    serving = set(range(layout.serving_port, layout.serving_port + 4))
    assert len(set(tcp)) == len(tcp), tcp
    assert not serving & set(tcp), (tcp, sorted(serving))


@pytest.mark.parametrize(("content", "why"), [
    ("", "JSONDecodeError"), ('{"fernet_key": "k"', "JSONDecodeError"), ("[1, 2]", "not a JSON object of text values"),
    ('{"fernet_key": 5}', "not a JSON object of text values"),
    ('{"fernet_key": "k", "jwt_secret": "j", "api_secret_key": "a", "admin_password": "p"}', "admin_user missing"),
], ids=["empty", "cut short", "a list", "a number", "a key lost"])
def test_a_damaged_secrets_file_is_named_and_never_rewritten(tmp_path, capsys, content, why):
    """Its values encrypt the connections and are the databases' passwords: fresh ones would lock the data away."""
    from ml_platform.cli import main
    from ml_platform.secrets import SecretsError

    layout = Layout(tmp_path)
    layout.secrets_file.write_text(content)
    damaged = rf"{layout.secrets_file} is damaged \(.*{why}.*\): restore it from a backup"
    with pytest.raises(SecretsError, match=damaged):
        ensure_secrets(layout.secrets_file, layout.passwords_file)
    with pytest.raises(SecretsError, match=damaged):  # the embedded database's password, read alone
        database.embedded_password(layout)
    assert layout.secrets_file.read_text() == content and not layout.passwords_file.exists()
    os.environ["ML_PLATFORM_HOME"] = str(tmp_path)
    try:
        assert main(["status"]) == 2
    finally:
        del os.environ["ML_PLATFORM_HOME"]
    assert capsys.readouterr().err.startswith(f"error: {layout.secrets_file} is damaged (")


def test_the_embedded_databases_password_read_alone(tmp_path):
    layout = Layout(tmp_path)
    with pytest.raises(RuntimeError, match=r"secrets.json has no 'database_password': `ml-platform up` generates"):
        database.embedded_password(layout)
    values = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert database.embedded_password(layout, "mlflow") == values["database_password_mlflow"]
    layout.secrets_file.write_text(json.dumps({**values, "database_password_mlflow": ""}))
    with pytest.raises(RuntimeError, match="has no 'database_password_mlflow'"):
        database.embedded_password(layout, "mlflow")


def test_a_missing_secrets_file_beside_the_database_made_with_it_is_not_made_afresh(tmp_path):
    from ml_platform.secrets import SecretsError

    layout = Layout(tmp_path)
    (layout.pgdata).mkdir()
    (layout.pgdata / "PG_VERSION").write_text("17\n")
    with pytest.raises(SecretsError, match="is missing, but the platform's database .*pgdata was made with it"):
        ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert not layout.secrets_file.exists()


def test_secrets_are_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """A full disk while new secrets are added leaves the old file as it was (it was emptied before)."""
    from ml_platform import secrets

    layout = Layout(tmp_path)
    before = ensure_secrets(layout.secrets_file, layout.passwords_file)
    text = layout.secrets_file.read_text()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(secrets.os, "fsync", disk_full)  # the data does not reach the disk
    with pytest.raises(OSError, match="No space left"):
        secrets.write_private(layout.secrets_file, json.dumps({**before, "lineage_token": "new"}))
    assert layout.secrets_file.read_text() == text and oct(layout.secrets_file.stat().st_mode)[-3:] == "600"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
