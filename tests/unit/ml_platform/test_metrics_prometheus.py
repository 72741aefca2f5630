"""Prometheus as an optional component: the committed rules pass promtool, the config scrapes the exporter, and the
platform starts without Prometheus (no component then) and with it (one more component on loopback)."""

import os
import subprocess
from pathlib import Path

import yaml

from ml_platform.components import components, metrics_components, platform_env
from ml_platform.layout import REPO_ROOT, Layout
from ml_platform.metrics import prometheus
from ml_platform.secrets import ensure_secrets
from tests.support.prometheus import required_binary

RULES = REPO_ROOT / "deploy" / "prometheus"


def promtool() -> str:
    """promtool's path (skipped loudly without it, a failure under ML_REQUIRE_PROMETHEUS=1)."""
    return required_binary("promtool")


def test_the_committed_rules_pass_promtool_check():
    out = subprocess.run([promtool(), "check", "rules", str(RULES / "rules.yml")], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS: 14 rules found" in out.stdout


def test_each_alert_fires_on_the_series_that_should_fire_it():
    out = subprocess.run([promtool(), "test", "rules", "rules_test.yml"], cwd=RULES, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_the_alerts_cover_the_issues_five_concerns():
    rules = yaml.safe_load((RULES / "rules.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    assert {"DagRunFailureRateHigh", "TasksStuck", "ModelDrift", "ModelEndpointDown", "ServingErrorRateHigh"} <= set(
        alerts)


def test_the_config_scrapes_the_exporter_on_loopback_and_loads_the_rules(tmp_path):
    config = prometheus.scrape_config("http://127.0.0.1:9108", interval_s=10)
    assert config["rule_files"] == [str(RULES / "rules.yml")]
    assert config["scrape_configs"][0]["static_configs"] == [{"targets": ["127.0.0.1:9108"]}]
    assert config["global"]["scrape_interval"] == "10s"
    argv = prometheus.prometheus_argv("/usr/bin/prometheus", tmp_path / "p.yml", tmp_path / "data", 9090)
    assert "--web.listen-address=127.0.0.1:9090" in argv
    assert f"--storage.tsdb.path={tmp_path / 'data'}" in argv
    assert any(a.startswith("--storage.tsdb.retention.time=") for a in argv)


def test_airflows_statsd_settings_are_real_airflow_options(tmp_path):
    layout = Layout.on_free_ports(tmp_path)
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    import airflow

    options = yaml.safe_load((Path(airflow.__file__).parent / "config_templates" / "config.yml").read_text())
    known = {f"AIRFLOW__METRICS__{name.upper()}" for name in options["metrics"]["options"]}
    ours = {k for k in env if k.startswith("AIRFLOW__METRICS__")}
    assert ours <= known, ours - known
    assert env["AIRFLOW__METRICS__STATSD_PORT"] == str(layout.statsd_port)
    assert env["AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED"] == "True"
    assert len({layout.metrics_port, layout.statsd_port, layout.prometheus_port, layout.airflow_port}) == 4
    assert layout.port_env()["ML_PLATFORM_PROMETHEUS_PORT"] == str(layout.prometheus_port)


def test_without_prometheus_only_the_exporter_runs_and_the_reason_is_given(tmp_path, monkeypatch):
    layout = Layout.on_free_ports(tmp_path)
    monkeypatch.setenv("ML_PLATFORM_PROMETHEUS", "0")
    assert [c.name for c in metrics_components(layout)] == ["metrics-exporter"]
    assert "ML_PLATFORM_PROMETHEUS=0" in prometheus.why_not_running()
    monkeypatch.setenv("ML_PLATFORM_PROMETHEUS", "1")
    monkeypatch.setenv("PATH", str(tmp_path))  # no prometheus on it
    monkeypatch.delenv("ML_PLATFORM_PROMETHEUS_BIN", raising=False)
    assert [c.name for c in components(layout)][-1] == "metrics-exporter"
    assert "not installed" in prometheus.why_not_running()


def test_with_prometheus_it_follows_the_exporter_and_writes_its_config_when_started(tmp_path, monkeypatch):
    layout = Layout.on_free_ports(tmp_path)
    fake = tmp_path / "bin" / "prometheus"  # stands in for the binary: prints what it was started with
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho \"$@\"\n")
    fake.chmod(0o755)
    monkeypatch.setenv("ML_PLATFORM_PROMETHEUS_BIN", str(fake))
    specs = {c.name: c for c in components(layout)}
    assert list(specs)[-2:] == ["metrics-exporter", "prometheus"]
    assert prometheus.why_not_running() is None
    out = subprocess.run(specs["prometheus"].argv, capture_output=True, text=True, timeout=60,
                         env={**os.environ, "ML_PLATFORM_PROMETHEUS_BIN": str(fake)})
    assert out.returncode == 0, out.stderr
    assert f"--web.listen-address=127.0.0.1:{layout.prometheus_port}" in out.stdout
    written = yaml.safe_load((layout.prometheus / "prometheus.yml").read_text())
    assert written["scrape_configs"][0]["static_configs"][0]["targets"] == [f"127.0.0.1:{layout.metrics_port}"]
