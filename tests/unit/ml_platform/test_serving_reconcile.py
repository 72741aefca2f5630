"""Model endpoints on a running platform: ports kept for good, and the plan that follows the configs."""

import json
import socket
import subprocess
import sys

import pytest
import yaml

from ml_pipeline.deployment.client import free_port
from ml_platform.components import Component, components, platform_env, serving_components
from ml_platform.layout import Layout, free_port_range
from ml_platform.model_switches import newly_seen, switch_changes
from ml_platform.reconcile import config_fingerprint, plan
from ml_platform.secrets import ensure_secrets
from ml_platform.serving_connection import serving_connection
from ml_platform.serving_ports import assign_ports, read_ports
from tests.conftest import REPO_ROOT


def write_model(folder, name: str, endpoint: str | None, enabled: bool = True, source: str | None = None) -> None:
    """A copy of the fraud model's config as ``name`` with its own endpoint (and ``data.source``)."""
    config = yaml.safe_load((REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml").read_text())
    config.update(model_name=name, enabled=enabled)
    if source:
        config["data"]["source"] = source
    config["deployment"]["endpoint_name"] = endpoint
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture
def configs(tmp_path, monkeypatch):
    folder = tmp_path / "model_configs"
    folder.mkdir()
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(folder))
    monkeypatch.delenv("AIRFLOW_CONN_SERVING_DEFAULT", raising=False)
    return folder


def test_a_new_model_never_moves_an_existing_models_port(configs, tmp_path):
    """The reported bug: breast_cancer sorts before fraud_detection, and took its port (8500)."""
    layout = Layout(tmp_path / "home", serving_port=18500)
    write_model(configs, "fraud_detection", "fraud-detection-api")
    assert layout.serving_endpoints() == {"fraud-detection-api": ("fraud_detection", 18500)}
    write_model(configs, "breast_cancer", "breast-cancer-api")
    assert layout.serving_endpoints() == {"breast-cancer-api": ("breast_cancer", 18501),
                                          "fraud-detection-api": ("fraud_detection", 18500)}
    again = Layout(tmp_path / "home", serving_port=18500)  # a restart: same ports, from the file
    assert again.serving_endpoints() == layout.serving_endpoints()
    assert read_ports(layout.serving_ports_file) == {"breast-cancer-api": 18501, "fraud-detection-api": 18500}


def test_a_disabled_model_or_one_without_endpoint_gets_no_server(configs, tmp_path):
    layout = Layout(tmp_path / "home", serving_port=18500)
    write_model(configs, "fraud_detection", "fraud-detection-api")
    write_model(configs, "paused_model", "paused-api", enabled=False)
    write_model(configs, "registry_only", None)
    assert list(layout.serving_endpoints()) == ["fraud-detection-api"]
    assert [c.name for c in serving_components(layout)] == ["serving-fraud-detection-api"]


def test_ports_are_never_reused_for_another_endpoint_and_busy_ports_are_skipped(tmp_path):
    path = tmp_path / "ports.json"
    base = free_port_range(4)  # four free in a row: the kernel's own picks may take the ports after one (a flake)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", base))
        assert assign_ports(path, ["a"], base) == {"a": base + 1}  # something else listens on the first
    assert assign_ports(path, ["b"], base) == {"b": base + 2}
    assert assign_ports(path, ["c"], base) == {"c": base + 3}  # a went away; its port stays its own
    assert assign_ports(path, ["a", "c"], base) == {"a": base + 1, "c": base + 3}  # a is back, on its port
    # written whole through write_private: owner-only, no temporary file left beside it
    assert oct(path.stat().st_mode & 0o777) == "0o600" and sorted(p.name for p in tmp_path.iterdir()) == [
        "ports.json", "ports.lock"]


def test_a_damaged_ports_file_is_refused_naming_the_file_and_the_fix(tmp_path):
    path = tmp_path / "ports.json"
    path.write_text('["fraud-detection-api"]')
    with pytest.raises(ValueError, match=r"ports.json: expected a JSON object of endpoint name → port"):
        assign_ports(path, ["x"], 18500)
    for damaged in (b"{", b'{"a-api": 85\xff00}'):  # cut short; not UTF-8 (a disk error)
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="ports.json: not JSON.*delete it"):
            read_ports(path)
    # hand-edited: a port given twice would start the second server on a taken port (or answer for the first);
    # true is no port; 70000 is none either. Nothing is rewritten.
    for text, message in [('{"a-api": 18500, "b-api": 18500}', "endpoints 'a-api' and 'b-api' have the same port "
                                                                "18500"),
                          ('{"a-api": true}', "expected a JSON object of endpoint name → port number"),
                          ('{"a-api": 70000}', "endpoint 'a-api' has port 70000, which is no TCP port (1–65535)")]:
        path.write_text(text)
        with pytest.raises(ValueError) as error:
            assign_ports(path, ["a-api", "c-api"], 18500)
        assert str(error.value).startswith(f"{path}: {message}") and "delete it" in str(error.value)
        assert path.read_text() == text


def server(name: str, model: str, port: int) -> Component:
    return Component(f"serving-{name}", ["serve", "--model", model, "--port", str(port)])


def test_the_plan_starts_new_servers_stops_removed_ones_and_restarts_changed_ones():
    running = [server("a", "m1", 1), server("b", "m2", 2), server("c", "m3", 3)]
    desired = [server("a", "m1", 1), server("b", "other", 2), server("d", "m4", 4)]
    todo = plan(desired, running)
    assert [s.name for s in todo.start] == ["serving-d"]
    assert [s.name for s in todo.stop] == ["serving-c"]
    assert todo.restart == [server("b", "other", 2)]
    assert todo.describe() == "start serving-d; stop serving-c; restart serving-b"
    assert not plan(running, running)


def test_the_config_fingerprint_changes_when_a_file_is_added_or_edited(tmp_path):
    before = config_fingerprint(tmp_path)
    (tmp_path / "a.yaml").write_text("model_name: a\n")
    added = config_fingerprint(tmp_path)
    (tmp_path / "a.yaml").write_text("model_name: a\nenabled: false\n")
    edited = config_fingerprint(tmp_path)
    (tmp_path / "b.yml").write_text("model_name: b\n")  # not read as a config: parsed again to show its error
    misnamed = config_fingerprint(tmp_path)
    (tmp_path / "notes.txt").write_text("not a config\n")
    assert len({before, added, edited, misnamed}) == 4 and config_fingerprint(tmp_path) == misnamed


def test_the_serving_connection_lives_in_the_database_unless_the_environment_sets_it(configs, tmp_path, monkeypatch):
    layout = Layout(tmp_path / "home", serving_port=18500)
    write_model(configs, "fraud_detection", "fraud-detection-api")
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert "AIRFLOW_CONN_SERVING_DEFAULT" not in platform_env(layout, secrets)  # frozen in running processes
    connection = serving_connection(layout.serving_endpoints(), secrets["serving_admin_token"])
    assert connection["password"] == secrets["serving_admin_token"]
    assert json.loads(connection["extra"]) == {"endpoints": {"fraud-detection-api": "http://127.0.0.1:18500"}}
    monkeypatch.setenv("AIRFLOW_CONN_SERVING_DEFAULT", '{"conn_type": "generic", "host": "lb"}')
    assert platform_env(layout, secrets)["AIRFLOW_CONN_SERVING_DEFAULT"] == '{"conn_type": "generic", "host": "lb"}'


def test_the_exporter_scrapes_the_new_endpoint_too(configs, tmp_path):
    layout = Layout(tmp_path / "home", serving_port=18500)
    write_model(configs, "fraud_detection", "fraud-detection-api")
    before = {c.name: c for c in components(layout)}["metrics-exporter"]
    write_model(configs, "breast_cancer", "breast-cancer-api")
    after = {c.name: c for c in components(layout)}["metrics-exporter"]
    assert before != after and "breast-cancer-api" in " ".join(after.argv)


def test_only_a_changed_enabled_is_applied_and_a_new_model_is_only_recorded(configs):
    from ml_pipeline.config import load_model_config

    write_model(configs, "fraud_detection", "fraud-detection-api", enabled=False)
    write_model(configs, "fresh", "fresh-api")
    loaded = [load_model_config(configs / "fraud_detection.yaml"), load_model_config(configs / "fresh.yaml")]
    applied = {"fraud_detection": True}
    assert switch_changes(loaded, applied) == {"fraud_detection": False}
    assert newly_seen(loaded, applied) == {"fresh": True}
    assert switch_changes(loaded, {"fraud_detection": False, "fresh": True}) == {}
    # a model first seen disabled (shipped `enabled: false` since an earlier release ran it): its DAGs are paused
    assert switch_changes(loaded, newly_seen(loaded, {})) == {"fraud_detection": False}


def test_what_was_applied_is_written_whole_and_a_damaged_record_is_applied_again(tmp_path):
    """Only true/false count; a file that is no JSON object, or not UTF-8, reads as nothing applied (so each model's
    switch is applied again), never as a crash of the supervisor's reconcile loop."""
    from ml_platform.model_switches import read_applied, write_applied

    path = tmp_path / "serving" / "enabled.json"
    write_applied(path, {"fraud_detection": False, "fresh": True})
    assert read_applied(path) == {"fraud_detection": False, "fresh": True}
    assert oct(path.stat().st_mode & 0o777) == "0o600" and not list(path.parent.glob("*.tmp"))
    for damaged, applied in [(b'{"fraud_detection": "false", "fresh": true}', {"fresh": True}), (b"[true]", {}),
                             (b'{"fraud_detection": tr', {}), (b'{"fraud_detection": \xff}', {})]:
        path.write_bytes(damaged)
        assert read_applied(path) == applied, damaged


def test_new_dags_of_enabled_models_run_from_the_start_unless_the_operator_asks_airflow_to_pause_them(tmp_path,
                                                                                                   monkeypatch):
    """The DAGs of an enabled model follow Airflow's dags_are_paused_at_creation (dag_kinds.common): the platform
    sets it to False, and the environment (an operator reviewing new DAGs first, the e2e tests) may set True."""
    layout = Layout(tmp_path)
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    monkeypatch.delenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", raising=False)
    assert platform_env(layout, secrets)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "False"
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "True")
    assert platform_env(layout, secrets)["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] == "True"


def test_an_upgraded_home_keeps_the_ports_of_the_old_rule_and_new_endpoints_go_in_config_order(configs, tmp_path):
    """Before ports.json, ports went by config file (base + index, disabled models counted), not by endpoint name."""
    layout = Layout(tmp_path / "home", serving_port=free_port_range(5))
    base = layout.serving_port
    write_model(configs, "a_first", "zeta-api")
    write_model(configs, "b_off", "off-api", enabled=False)
    write_model(configs, "c_last", "alpha-api")
    assert layout.serving_endpoints() == {"zeta-api": ("a_first", base), "alpha-api": ("c_last", base + 2)}
    write_model(configs, "d_new", "new-z-api")
    write_model(configs, "e_new", "new-a-api")
    ports = {name: port for name, (_, port) in layout.serving_endpoints().items()}
    assert (ports["new-z-api"], ports["new-a-api"]) == (base + 3, base + 4)


def test_status_reads_the_ports_and_writes_nothing_even_beside_an_old_platform_holding_them(configs, tmp_path):
    """An old release's platform still runs (its servers hold base and base + 1): status shows those ports."""
    from ml_platform.lifecycle import status

    layout = Layout(tmp_path / "home", serving_port=free_port_range(2), airflow_port=free_port(),
                    mlflow_port=free_port())
    layout.ensure_dirs()
    write_model(configs, "fraud_detection", "fraud-detection-api")
    write_model(configs, "breast_cancer", "breast-cancer-api")
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ml_platform.supervisor"])
    try:
        layout.state_file.write_text(json.dumps({"phase": "running", "supervisor_pid": old.pid, "components": {}}))
        with socket.socket() as first, socket.socket() as second:
            first.bind(("127.0.0.1", layout.serving_port))
            second.bind(("127.0.0.1", layout.serving_port + 1))
            now = status(layout)
    finally:
        old.kill()
        old.wait()
    assert {name: port for name, (_, port, _) in now.serving.items()} == {
        "breast-cancer-api": layout.serving_port, "fraud-detection-api": layout.serving_port + 1}
    assert not layout.serving_ports_file.exists()


def test_no_port_above_65535_is_tried_and_the_error_says_why(tmp_path):
    path = tmp_path / "ports.json"
    path.write_text('{"last": 65535}')
    with pytest.raises(RuntimeError, match="no free port left for a model endpoint"):
        assign_ports(path, ["next"], 65535)
