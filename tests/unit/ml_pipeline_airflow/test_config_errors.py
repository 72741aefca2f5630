"""A config that ``check-config`` accepts must build; one it refuses never hides another model's DAGs.

For every field that feeds a DAG argument (a cron, a duration, a count, an e-mail address), an out-of-range
value is refused by ``ml-pipeline check-config`` naming the field's path; deployed anyway (as an older platform
would have let it through), it becomes at worst its own model's ``config-error`` DAG.
"""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline_airflow.dag_kinds import CONFIG_ERROR_TAG, KINDS, build_dags
from ml_pipeline_airflow.dag_kinds import loader as kinds_loader

FRAUD = config_dir() / "fraud_detection.yaml"
HUGE = 1e300
# field path -> a value that passed check-config before and broke (or could break) a DAG
OUT_OF_RANGE = {
    "schedule": "not a cron",
    "feature_store.schedule": "61 * * * *",
    "validation.schedule": "every hour",
    "retries": 50,
    "retry_delay_seconds": HUGE,
    "retry_backoff": HUGE,
    "max_retry_delay_seconds": HUGE,
    "data.poke_interval_seconds": HUGE,
    "deployment.watch.timeout_hours": HUGE,
    "deployment.watch.poke_interval_seconds": HUGE,
    "deployment.canary.requests": 10**9,
    "deployment.canary.startup_timeout_seconds": HUGE,
    "alerts.deadline_minutes": HUGE,
    "alerts.email_to": ["ml-alerts"],
    "feature_store.wait_timeout_minutes": HUGE,
    "training.priority_weight": 10**9,
    "monitoring.schedule": "0 0 31 2 *",
    "monitoring.window_hours": HUGE,
    "monitoring.retrain_cooldown_hours": HUGE,
    "monitoring.retrain_on": ["weather"],
}


def with_value(raw: dict, dotted: str, value) -> dict:
    node, *path, leaf = [raw, *dotted.split(".")]
    for key in path:
        node = node.setdefault(key, {})
    node[leaf] = value
    return raw


def unchecked(config, dotted: str, value):
    """``config`` with ``dotted`` set to ``value`` without validation (``model_copy`` does not validate)."""
    head, _, rest = dotted.partition(".")
    if not rest:
        return config.model_copy(update={head: value})
    inner = getattr(config, head)
    if isinstance(inner, dict) or inner is None:
        return config.model_copy(update={head: with_value(dict(inner or {}), rest, value)})
    return config.model_copy(update={head: unchecked(inner, rest, value)})


@pytest.fixture(scope="module")
def check_config_output(tmp_path_factory) -> tuple[subprocess.CompletedProcess, dict[str, Path]]:
    folder = tmp_path_factory.mktemp("configs")
    files = {}
    for i, (field, value) in enumerate(OUT_OF_RANGE.items()):
        raw = with_value(yaml.safe_load(FRAUD.read_text()), field, value)
        raw["model_name"] = f"variant_{i}"
        files[field] = folder / f"variant_{i}.yaml"
        files[field].write_text(yaml.safe_dump(raw))
    cli = Path(sys.executable).parent / "ml-pipeline"
    done = subprocess.run([str(cli), "check-config", *map(str, files.values())], capture_output=True, text=True,
                          timeout=300)
    return done, files


@pytest.mark.parametrize("field", OUT_OF_RANGE)
def test_check_config_refuses_the_value_naming_the_file_and_field(check_config_output, field):
    done, files = check_config_output
    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if files[field].name in line]
    assert f"field '{field.removeprefix('validation.')}" in line, line  # (validation: rules name their own)
    assert "ok " not in done.stdout


@pytest.mark.parametrize("field", OUT_OF_RANGE)
def test_deployed_anyway_it_is_its_own_models_problem(tmp_path, monkeypatch, field):
    for name in ("good_model", "bad_model"):
        raw = yaml.safe_load(FRAUD.read_text())
        raw["deployment"]["endpoint_name"] = f"{name.replace('_', '-')}-api"
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump({**raw, "model_name": name}))
    real = kinds_loader.load_model_configs

    def loaded_without_checks(paths):
        configs, errors = real(paths)
        return {path: unchecked(config, field, OUT_OF_RANGE[field]) if config.model_name == "bad_model" else config
                for path, config in configs.items()}, errors

    monkeypatch.setattr(kinds_loader, "load_model_configs", loaded_without_checks)
    for kind in KINDS:
        dags = build_dags(kind, tmp_path)
        good = dags[kind.dag_id("good_model")]
        assert CONFIG_ERROR_TAG not in good.tags and len(good.tasks) > 1, kind.name
        assert kind.dag_id("bad_model") in dags, kind.name  # built, or its config-error DAG: never missing


def test_the_shipped_configs_pass_the_new_checks():
    for path in sorted(config_dir().glob("*.yaml")):
        load_model_config(path)
