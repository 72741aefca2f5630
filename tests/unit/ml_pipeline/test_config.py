from pathlib import Path

import pytest
import yaml

from ml_pipeline.config import ConfigError, load_model_config
from tests.conftest import REPO_ROOT

FRAUD = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"


def write_variant(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load(FRAUD.read_text())
    for dotted, value in changes.items():
        node, *path, leaf = [raw, *dotted.split("__")]
        for key in path:
            node = node[key]
        node[leaf] = value
    target = tmp_path / "model.yaml"
    target.write_text(yaml.safe_dump(raw))
    return target


def test_fraud_config_loads_with_the_seed_values():
    config = load_model_config(FRAUD)
    assert config.schedule == "0 2 * * *"
    assert config.training.hyperparameters == {"max_depth": 6, "learning_rate": 0.1, "n_estimators": 100}
    assert config.deployment.min_auc_threshold == 0.85
    assert {"amount", "merchant_category", "transaction_count_1h", "transaction_avg_24h"} <= set(config.data.features)


def test_unknown_key_is_rejected_naming_file_and_field(tmp_path):
    path = write_variant(tmp_path, training__learning_rat=0.1)
    with pytest.raises(ConfigError, match=r"model\.yaml: .*field 'training\.learning_rat': no such setting; the "
                                         r"settings of 'training' are hyperparameters, validation_split"):
        load_model_config(path)


def test_out_of_range_value_names_the_field_and_the_value(tmp_path):
    path = write_variant(tmp_path, training__validation_split=1.5)
    with pytest.raises(ConfigError, match=r"field 'training\.validation_split'.*got 1\.5"):
        load_model_config(path)


def test_a_canary_batch_the_model_servers_would_refuse_is_refused_naming_the_limit(tmp_path):
    raw = yaml.safe_load(FRAUD.read_text())
    raw["deployment"]["canary"] = {"rows_per_request": 1001}
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"field 'deployment\.canary\.rows_per_request'.*1000"):
        load_model_config(tmp_path / "model.yaml")


def test_a_file_that_is_not_utf8_text_is_a_config_error_naming_it_not_a_crash(tmp_path):
    from ml_pipeline.config import load_model_configs

    (tmp_path / "latin1.yaml").write_bytes("model_name: caf\xe9\n".encode("latin-1"))
    configs, errors = load_model_configs([tmp_path / "latin1.yaml", write_variant(tmp_path)])
    assert list(configs) == [tmp_path / "model.yaml"]
    assert "latin1.yaml: not UTF-8 text (invalid continuation byte at byte offset 15): save it as UTF-8" in errors[
        tmp_path / "latin1.yaml"]


def test_malformed_yaml_names_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model_name: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml: not valid YAML: line 2, column 1: .*fix it there"):
        load_model_config(path)


def test_config_hash_changes_when_a_hyperparameter_changes(tmp_path):
    changed = load_model_config(write_variant(tmp_path, training__hyperparameters={"max_depth": 3}))
    assert changed.content_hash() != load_model_config(FRAUD).content_hash()


def test_a_model_is_enabled_unless_its_config_says_enabled_false(tmp_path):
    """``enabled`` switches the model's DAGs and server: it is not what the model is, so not in its hash."""
    assert load_model_config(FRAUD).enabled is True
    disabled = load_model_config(write_variant(tmp_path, enabled=False))
    assert disabled.enabled is False and disabled.content_hash() == load_model_config(FRAUD).content_hash()
    with pytest.raises(ConfigError, match=r"model\.yaml: .*field 'enabled': .*got 'sometimes'"):
        load_model_config(write_variant(tmp_path, enabled="sometimes"))



def test_a_gpu_for_an_estimator_that_trains_on_the_cpu_only_is_refused_naming_the_field(tmp_path):
    path = write_variant(tmp_path, model_type="lightgbm", training__device="gpu")
    with pytest.raises(ConfigError, match=r"model\.yaml: invalid model config: field 'training\.device': gpu, but "
                                          r"model_type lightgbm trains on the CPU only"):
        load_model_config(path)
    assert load_model_config(write_variant(tmp_path, model_type="xgboost", training__device="gpu"))
    assert load_model_config(write_variant(tmp_path, model_type="lightgbm", training__device="auto"))


@pytest.mark.parametrize(("cron", "message"), [
    ("not a cron", "is not a cron expression"), ("0 0 31 2 *", "never fires"), ("0 2 * * * *", "five fields"),
])
def test_a_schedule_airflow_could_not_follow_is_refused_naming_the_field(tmp_path, cron, message):
    with pytest.raises(ConfigError, match=rf"field 'schedule': .*{message}"):
        load_model_config(write_variant(tmp_path, schedule=cron))


@pytest.mark.parametrize("cron", ["@daily", "@annually", "*/15 * * * *", "0 3 * * MON-FRI", None])
def test_crons_and_presets_airflow_schedules_by_are_accepted(tmp_path, cron):
    assert load_model_config(write_variant(tmp_path, schedule=cron)).schedule == cron


def test_monitoring_levels_are_ordered_and_only_for_the_models_features(tmp_path):
    with pytest.raises(ConfigError, match=r"monitoring.thresholds.*alert \(0.05\) is below warn \(0.1\)"):
        load_model_config(write_variant(tmp_path, monitoring={"thresholds": {"warn": 0.1, "alert": 0.05}}))
    with pytest.raises(ConfigError, match=r"field 'monitoring.features': \['amout'\] are not in data.features"):
        load_model_config(write_variant(tmp_path, monitoring={"features": {"amout": {"alert": 0.3}}}))
    with pytest.raises(ConfigError, match=r"monitoring.features.amount.method"):
        load_model_config(write_variant(tmp_path, monitoring={"features": {"amount": {"method": "ks"}}}))
    fraud = load_model_config(REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml").monitoring
    assert (fraud.schedule, fraud.entity_key, fraud.retrain_on) == ("15 * * * *", "transaction_id", ["drift", "decay"])
    assert fraud.features["category_avg_amount_24h"].method == "wasserstein"


def test_a_features_monitoring_entry_takes_what_it_leaves_out_from_the_models_thresholds(tmp_path):
    monitoring = {"thresholds": {"warn": 0.2, "alert": 0.5},
                  "features": {"amount": {"alert": 0.4}, "merchant_category": {"method": "psi", "warn": 0.3}}}
    config = load_model_config(write_variant(tmp_path, monitoring=monitoring)).monitoring
    assert (config.features["amount"].warn, config.features["amount"].alert) == (0.2, 0.4)
    assert (config.features["merchant_category"].warn, config.features["merchant_category"].alert) == (0.3, 0.5)
    alone = load_model_config(write_variant(tmp_path, monitoring={"features": {"amount": {"alert": 0.4}}}))
    assert (alone.monitoring.features["amount"].warn, alone.monitoring.features["amount"].alert) == (0.1, 0.4)
    from ml_pipeline.config_sections import FeatureThresholds, MonitoringConfig

    built = MonitoringConfig(thresholds=FeatureThresholds(warn=0.2, alert=0.5),
                             features={"amount": {"alert": 0.4}, "merchant_category": FeatureThresholds(alert=0.6)})
    assert (built.features["amount"].warn, built.features["amount"].alert) == (0.2, 0.4)  # objects as dicts
    assert (built.features["merchant_category"].warn, built.features["merchant_category"].alert) == (0.2, 0.6)
    with pytest.raises(ConfigError, match=r"monitoring.thresholds.wran") as typo:  # said once, where it was written
        load_model_config(write_variant(tmp_path, monitoring={"thresholds": {"wran": 0.2},
                                                              "features": {"amount": {"alert": 0.4}}}))
    assert "monitoring.features" not in str(typo.value)
    # an inherited level yields to the entry's own: a stricter alert alone lowers the warn it inherits (and a
    # laxer warn alone raises the alert); levels the entry itself gives the wrong way round are refused
    yielded = load_model_config(write_variant(tmp_path, monitoring={
        "thresholds": {"warn": 0.2, "alert": 0.5}, "features": {"amount": {"alert": 0.15}, "merchant_category": {
            "warn": 0.7}, "transaction_count_1h": {"method": "psi"}}})).monitoring.features
    assert (yielded["amount"].warn, yielded["amount"].alert) == (0.15, 0.15)
    assert (yielded["merchant_category"].warn, yielded["merchant_category"].alert) == (0.7, 0.7)
    assert (yielded["transaction_count_1h"].warn, yielded["transaction_count_1h"].alert) == (0.2, 0.5)
    alone = load_model_config(write_variant(tmp_path, monitoring={  # over the defaults (0.1, 0.25) alike
        "features": {"amount": {"alert": 0.05}, "merchant_category": {"warn": 0.3}}})).monitoring.features
    assert (alone["amount"].warn, alone["amount"].alert, alone["merchant_category"].alert) == (0.05, 0.05, 0.3)
    with pytest.raises(ConfigError, match=r"monitoring.features.amount.alert") as negative:
        load_model_config(write_variant(tmp_path, monitoring={"features": {"amount": {"alert": -1}}}))
    assert "warn" not in str(negative.value)  # only the level that was written wrong
    with pytest.raises(ConfigError, match=r"monitoring.features.amount.*alert \(0.15\) is below warn \(0.3\)"):
        load_model_config(write_variant(tmp_path, monitoring={"thresholds": {"warn": 0.2, "alert": 0.5},
                                                              "features": {"amount": {"warn": 0.3, "alert": 0.15}}}))
