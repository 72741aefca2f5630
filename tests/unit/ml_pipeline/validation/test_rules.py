"""Rules from three sources, merged field by field; bad rules name the file and the field."""

import json

import pytest

from ml_pipeline.cli import main
from ml_pipeline.config import ConfigError, load_model_config
from ml_pipeline.platform_health.settings import load_settings
from ml_pipeline.validation.model_rules import rules_for_model
from ml_pipeline.validation.rules import RulesError
from tests.unit.ml_pipeline.test_config import FRAUD


@pytest.fixture
def rules_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PIPELINE_RULES_DIR", str(tmp_path))
    (tmp_path / "schemas").mkdir()
    return tmp_path


def test_repository_rules_merge_global_derived_and_model_rules():
    rules = rules_for_model(load_model_config(FRAUD), FRAUD)
    assert rules.freshness.max_age_hours == 36 and rules.freshness.column == "event_time"  # schemas/ over global
    assert rules.volume.max_drop_fraction == 0.5 and rules.volume.min_rows == 1000  # global kept, min_rows overridden
    assert rules.columns["is_fraud"].rate.min == 0.002 and rules.columns["is_fraud"].nullable is False
    assert "transaction_count_1h" not in rules.columns  # derived by a feature function, not read
    assert rules.columns["card_id"].required  # needed by the card window features


def test_defaults_alone_are_derived_from_the_model_config(rules_dir):
    rules = rules_for_model(load_model_config(FRAUD), FRAUD)
    assert set(rules.columns) == {"amount", "merchant_category", "card_id", "transaction_id", "event_time",
                                  "is_fraud"}
    assert rules.columns["is_fraud"].categories.allowed == [0, 1]
    # every column the model reads must hold a value; the target and event time may not hold a null at all
    assert {name: column.empty for name, column in rules.columns.items()} == {
        "amount": "error", "merchant_category": "error", "card_id": "error", "transaction_id": "error",
        "event_time": "allow", "is_fraud": "allow"}
    assert rules.completeness.critical_columns == ["is_fraud", "event_time"]
    assert rules.volume.min_rows == 1 and rules.freshness.max_age_hours == 48


def test_a_rules_folder_that_does_not_exist_is_refused_not_read_as_no_rules(tmp_path, monkeypatch, capsys):
    """A typo in ML_PIPELINE_RULES_DIR dropped the global and model rules files silently (19 checks of 49)."""
    missing = tmp_path / "confg"
    monkeypatch.setenv("ML_PIPELINE_RULES_DIR", str(missing))
    with pytest.raises(ConfigError, match=rf"^ML_PIPELINE_RULES_DIR={missing} is not a folder: set it to the "
                                          r"folder holding data_validation_rules.yaml, schemas/ and platform_health"):
        rules_for_model(load_model_config(FRAUD), FRAUD)
    with pytest.raises(ConfigError, match=rf"^ML_PIPELINE_RULES_DIR={missing} is not a folder"):
        load_settings()  # the platform-health settings beside them: not Airflow's defaults in silence
    assert main(["check-config", str(FRAUD)]) == 1
    assert f"ML_PIPELINE_RULES_DIR={missing} is not a folder" in capsys.readouterr().err


def test_a_sliced_models_inputs_may_be_empty_in_one_slice_with_a_warning_and_its_slicing_column_always(rules_dir):
    """`merchant_category` slices the data: the `__null__` slice holds it null in every row by definition. A slice
    may lack a feature the whole day has (a warning); the whole day may not (an error)."""
    config = load_model_config(FRAUD)
    sliced = config.model_copy(update={"data": config.data.model_copy(update={"partition_by": "merchant_category"})})
    day = rules_for_model(sliced, FRAUD)
    assert day.columns["merchant_category"].empty == "allow"
    assert day.columns["amount"].empty == day.columns["card_id"].empty == "error"
    one_slice = day.for_slice()
    assert one_slice.columns["amount"].empty == one_slice.columns["card_id"].empty == "warning"
    assert one_slice.columns["merchant_category"].empty == "allow" and one_slice.columns["is_fraud"].empty == "allow"


def test_rules_in_the_model_config_and_a_json_schema_file(rules_dir, tmp_path):
    config_path = tmp_path / "m.yaml"
    config_path.write_text(FRAUD.read_text() + "validation:\n  volume: {min_rows: 5}\n  extra_columns: error\n")
    (rules_dir / "schemas" / "fraud_detection.json").write_text(json.dumps({"volume": {"min_rows": 7}}))
    rules = rules_for_model(load_model_config(config_path), config_path)
    assert (rules.volume.min_rows, rules.extra_columns) == (7, "error")  # schemas file wins over the config


def test_malformed_rules_name_the_file_and_the_field(rules_dir):
    bad = rules_dir / "schemas" / "fraud_detection.yaml"
    bad.write_text("columns:\n  amount:\n    range: {severity: error}\n    mean: {min: 5, max: 1}\n")
    with pytest.raises(RulesError) as error:
        rules_for_model(load_model_config(FRAUD), FRAUD)
    assert str(error.value) == (f"{bad}: invalid validation rules: field 'columns.amount.range': give "
                                "min, max or both; field 'columns.amount.mean': min 5.0 is greater "
                                "than max 1.0")


def test_a_source_may_change_part_of_a_rule(rules_dir):
    schema_file = rules_dir / "schemas" / "fraud_detection.yaml"
    schema_file.write_text("columns:\n  is_fraud:\n    rate: {severity: warning}\n")
    rate = rules_for_model(load_model_config(FRAUD), FRAUD).columns["is_fraud"].rate
    assert (rate.min, rate.max, rate.severity) == (0.0001, 0.9999, "warning")  # bounds implied by the config


def test_unknown_rule_in_a_model_config_is_reported_by_check_config(tmp_path, capsys):
    config_path = tmp_path / "m.yaml"
    config_path.write_text(FRAUD.read_text() + "validation:\n  freshnes: {max_age_hours: 1}\n")
    assert main(["check-config", str(config_path)]) == 1
    assert ("m.yaml (validation:): invalid validation rules: field 'freshnes': no such setting (did you mean "
            "'freshness'?)") in capsys.readouterr().err
