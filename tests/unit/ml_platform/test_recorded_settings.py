"""The settings ``up`` records in the platform's home, and the commands after it that take what their shell lacks."""

import os
import subprocess
import sys

import pytest

from ml_platform import lifecycle, recorded_settings
from ml_platform.layout import Layout


def test_up_records_the_platform_settings_only_privately_and_reads_them_back_exactly(tmp_path):
    environ = {"ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_DATABASE_URL": "postgresql://ml:p@ss w'rd$x@db:5432",
               "ML_PIPELINE_CONFIG_DIR": "/srv/configs", "ML_PLATFORM_HOME": str(tmp_path), "PATH": "/usr/bin",
               "AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "ML_PIPELINE_UNRELATED": "x"}
    path = recorded_settings.record(tmp_path, environ)
    assert path == tmp_path / "platform.env" and oct(path.stat().st_mode & 0o777) == "0o600"
    assert recorded_settings.read(tmp_path) == {"ML_PIPELINE_CONFIG_DIR": "/srv/configs",
                                                "ML_PLATFORM_DATABASE_URL": "postgresql://ml:p@ss w'rd$x@db:5432",
                                                "ML_PLATFORM_EXECUTOR": "celery"}
    # the shell reads it the same way (a worker on another machine: set -a; . platform.env; set +a)
    shell = subprocess.run(["sh", "-c", f'set -a; . "{path}"; printf %s "$ML_PLATFORM_DATABASE_URL"'],
                           capture_output=True, text=True, check=True)
    assert shell.stdout == environ["ML_PLATFORM_DATABASE_URL"]
    recorded_settings.record(tmp_path, {"ML_PLATFORM_EXECUTOR": "local"})  # the next start replaces it
    assert recorded_settings.read(tmp_path) == {"ML_PLATFORM_EXECUTOR": "local"}


def test_the_shell_wins_and_only_what_it_lacks_is_taken(tmp_path):
    recorded_settings.record(tmp_path, {"ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_AIRFLOW_PORT": "18080"})
    environ = {"ML_PLATFORM_AIRFLOW_PORT": "9000"}
    assert recorded_settings.apply(tmp_path, environ) == ["ML_PLATFORM_EXECUTOR"]
    assert environ == {"ML_PLATFORM_AIRFLOW_PORT": "9000", "ML_PLATFORM_EXECUTOR": "celery"}
    assert recorded_settings.apply(tmp_path / "never-started", environ) == []


def test_a_damaged_file_names_itself_its_line_and_the_fix(tmp_path):
    (tmp_path / "platform.env").write_text("# comment\nML_PLATFORM_EXECUTOR=celery\nML_PLATFORM_REDIS_URL='redis://x\n")
    with pytest.raises(recorded_settings.RecordedSettingsError) as bad:
        recorded_settings.read(tmp_path)
    assert f"{tmp_path / 'platform.env'}, line 3: No closing quotation" in str(bad.value)
    assert "delete the file and set the settings in your shell" in str(bad.value)
    (tmp_path / "platform.env").write_text("export ML_PLATFORM_EXECUTOR=celery\n")
    with pytest.raises(recorded_settings.RecordedSettingsError, match="line 1: expected NAME=value"):
        recorded_settings.read(tmp_path)
    (tmp_path / "platform.env").write_bytes(b"ML_PLATFORM_EXECUTOR=\xffcelery\n")  # not UTF-8
    with pytest.raises(recorded_settings.RecordedSettingsError) as bad:
        recorded_settings.read(tmp_path)
    assert str(bad.value).startswith(f"{tmp_path / 'platform.env'}: cannot be read as text (UnicodeDecodeError")
    assert "delete it and set the settings in your shell" in str(bad.value)
    (tmp_path / "platform.env").unlink()
    (tmp_path / "platform.env").mkdir()
    with pytest.raises(recorded_settings.RecordedSettingsError, match=r"platform.env: a folder, not a file\. "):
        recorded_settings.read(tmp_path)


def test_status_in_a_new_shell_uses_the_recorded_settings_and_says_which(tmp_path):
    """A fresh process (the components read the executor as they are imported): the recorded database and ports."""
    home = tmp_path / "platform"
    home.mkdir()
    recorded_settings.record(home, {"ML_PLATFORM_DATABASE_URL": "postgresql://ml@127.0.0.1:1",
                               "ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_AIRFLOW_PORT": "18123"})
    env = {name: value for name, value in os.environ.items() if not name.startswith("ML_PLATFORM_")}
    env["ML_PLATFORM_HOME"] = str(home)
    status = [sys.executable, "-m", "ml_platform.cli", "status"]
    shown = subprocess.run(status, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[0] == (
        f"settings ML_PLATFORM_AIRFLOW_PORT, ML_PLATFORM_DATABASE_URL, ML_PLATFORM_EXECUTOR from {home}/platform.env "
        "(as up recorded them; your shell's own values win)")
    assert "database: external postgresql://ml@127.0.0.1:1" in shown.stdout
    assert "Airflow UI http://127.0.0.1:18123" in shown.stdout
    (home / "platform.env").write_text("ML_PLATFORM_EXECUTOR='celery\n")
    broken = subprocess.run(status, env=env, capture_output=True, text=True, timeout=120)
    assert broken.returncode == 2 and f"{home}/platform.env, line 1" in broken.stderr, broken.stderr


def test_starting_a_platform_records_this_environment(tmp_path, monkeypatch):
    layout = Layout(tmp_path / "platform")
    launched = []
    monkeypatch.setenv("ML_PLATFORM_EXECUTOR", "celery")
    monkeypatch.setattr(lifecycle.subprocess, "Popen", lambda *args, **kwargs: launched.append(args))
    monkeypatch.setattr(lifecycle, "_wait_healthy", lambda found, on_progress: True)
    assert lifecycle.start(layout).healthy and launched
    assert recorded_settings.read(layout.home)["ML_PLATFORM_EXECUTOR"] == "celery"


def test_the_components_read_the_recorded_settings_not_the_defaults(tmp_path):
    """The components take the executor and the broker as they are imported: a command imports them only after it
    took the recorded settings."""
    recorded_settings.record(tmp_path, {"ML_PLATFORM_EXECUTOR": "celery", "ML_PLATFORM_REDIS_URL": "redis://10.0.0.9:6379/3"})
    env = {name: value for name, value in os.environ.items() if not name.startswith("ML_PLATFORM_")}
    script = ("from ml_platform import cli; cli.main(['logs', '-n', '1']); from ml_platform import components; "
              "print(components.EXECUTOR, components.REDIS_URL)")
    shown = subprocess.run([sys.executable, "-c", script], env={**env, "ML_PLATFORM_HOME": str(tmp_path)},
                           capture_output=True, text=True, timeout=120)
    assert shown.stdout.splitlines()[-1] == "celery redis://10.0.0.9:6379/3", shown.stdout + shown.stderr
