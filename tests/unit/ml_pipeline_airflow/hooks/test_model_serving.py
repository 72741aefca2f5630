"""The deployment tasks' side of a model server's security: the admin token from the connection, private logs."""

import json
import stat

from ml_pipeline_airflow.hooks.model_serving import ModelServingHook, canary_log_folder

TOKEN = "hook-admin-token"


def test_the_hook_reads_the_admin_token_from_the_connections_password(monkeypatch):
    endpoints = {"extra": {"endpoints": {"fraud-api": "http://127.0.0.1:8500/"}}}
    monkeypatch.setenv("AIRFLOW_CONN_SERVING_DEFAULT", json.dumps({"conn_type": "generic", "password": TOKEN,
                                                                   **endpoints}))
    hook = ModelServingHook()
    assert (hook.endpoint_url("fraud-api"), hook.admin_token()) == ("http://127.0.0.1:8500", TOKEN)
    monkeypatch.setenv("AIRFLOW_CONN_SERVING_DEFAULT", json.dumps({"conn_type": "generic", **endpoints}))
    assert ModelServingHook().admin_token() is None


def test_canary_logs_go_to_a_private_folder_never_a_fixed_name_in_the_shared_temp(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "logs"))
    folder = canary_log_folder()
    assert folder == tmp_path / "logs" / "ml-serving-canary" and stat.S_IMODE(folder.stat().st_mode) == 0o700
    (tmp_path / "file").write_text("")  # no folder can be made under a file: a fresh private temp folder instead
    monkeypatch.setenv("AIRFLOW__LOGGING__BASE_LOG_FOLDER", str(tmp_path / "file"))
    first, second = canary_log_folder(), canary_log_folder()
    assert first != second and first.name.startswith("ml-serving-canary-")
    assert stat.S_IMODE(first.stat().st_mode) == 0o700
    first.rmdir(), second.rmdir()
