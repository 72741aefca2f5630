"""A config as a user writes it wrong: each mistake refused with the file, the line or field, and the fix.

Each case here was accepted silently, crashed ``check-config`` or said something misleading before.
"""

from pathlib import Path

import pytest
import yaml

from ml_pipeline.cli import main
from ml_pipeline.config import (
    ConfigError,
    config_files,
    load_model_config,
    load_model_configs,
    misnamed_config_files,
)
from tests.conftest import REPO_ROOT

BASE = """\
model_name: {name}
data:
  source: s3://ml-data/{name}/
  target_column: label
  features: [amount, merchant_category]
"""


def write(folder: Path, text: str, name: str = "model", file: str | None = None) -> Path:
    path = folder / (file or f"{name}.yaml")
    path.write_text(BASE.format(name=name) + text)
    return path


def refused(path: Path) -> str:
    with pytest.raises(ConfigError) as error:
        load_model_config(path)
    assert str(error.value).startswith(str(path)), error.value
    return str(error.value)


def test_a_section_written_twice_is_refused_naming_both_lines_not_merged_silently(tmp_path):
    path = write(tmp_path, "deployment:\n  min_auc_threshold: 0.95\ndeployment:\n  holdout_days: 2\n")
    assert refused(path).endswith("not valid YAML: line 8, column 1: 'deployment' is written twice (first on "
                                  "line 6); YAML would keep only the last one: merge the two into one")
    nested = write(tmp_path, "deployment:\n  min_auc_threshold: 0.95\n  min_auc_threshold: 0.5\n")
    assert "line 8, column 3: 'min_auc_threshold' is written twice (first on line 7)" in refused(nested)


def test_anchors_and_merge_keys_still_load(tmp_path):
    path = write(tmp_path, "deployment:\n  canary: &c {requests: 5}\n  watch: {window_days: 0}\n"
                    "monitoring:\n  thresholds: &t {warn: 0.2, alert: 0.3}\n  features:\n"
                    "    amount: {<<: *t, alert: 0.5}\n", file="anchors.yaml")
    config = load_model_config(path)
    assert config.monitoring.features["amount"].warn == 0.2 and config.monitoring.features["amount"].alert == 0.5


def test_a_syntax_error_names_its_line_and_column_and_says_how_to_fix_yaml(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("model_name: broken\ndata:\n source: x\n   features: [a\n")
    message = refused(path)
    assert "not valid YAML: line 4, column 12: mapping values are not allowed in this context" in message
    assert "indent with spaces" in message and "UTF-8" not in message


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "\n\n"])
def test_an_empty_file_says_it_is_empty_and_how_to_start_one(tmp_path, text):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    assert "the file is empty" in refused(path) and "ml-pipeline new-model" in refused(path)


def test_a_misspelt_setting_gets_the_closest_ones_and_the_sections_settings(tmp_path):
    message = refused(write(tmp_path, "traning:\n  seed: 1\n"))
    assert "field 'traning': no such setting (did you mean 'training'?); the settings of the top level are " \
           "model_name, model_type" in message
    deep = refused(write(tmp_path, "monitoring:\n  features:\n    amount: {warnn: 0.2}\n"))
    assert "field 'monitoring.features.amount.warnn': no such setting (did you mean 'warn'?); the settings of " \
           "'monitoring.features.amount' are warn, alert, method" in deep


def test_a_value_no_member_of_a_union_accepts_is_one_problem_and_an_empty_section_says_so(tmp_path):
    message = refused(write(tmp_path, "training:\n  hyperparameters:\n    max_depth: [1, 2]\n"))
    assert message.endswith("field 'training.hyperparameters.max_depth': Input should be a valid number or a valid "
                            "integer or a valid string or a valid boolean (got [1, 2])")
    empty = refused(write(tmp_path, "training:\n"))
    assert empty.endswith("field 'training': the section is empty: indent its settings under it, or delete the line")
    cron = refused(write(tmp_path, "schedule: 0\n"))
    assert "field 'schedule': Input should be a valid string: write the cron in quotes" in cron and "(got 0)" in cron


def test_a_huge_value_is_quoted_shortened(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(5))
    path = write(tmp_path, f"{bomb}description: *f\n")  # 9 × 4⁵ strings as one value
    problem = refused(path).split("invalid model config: field ")[1].split("; field ")[0]
    assert problem.startswith("'description': Input should be a valid string (got [[[[[['x'"), problem
    assert len(problem) < 200 and problem.endswith("…)"), problem


def test_a_yml_file_is_refused_with_the_rename_and_listed_apart(tmp_path):
    write(tmp_path, "", name="kept")
    other = write(tmp_path, "", name="other", file="other.yml")
    upper = write(tmp_path, "", name="upper", file="upper.YAML")
    assert config_files(tmp_path) == [tmp_path / "kept.yaml"]
    assert misnamed_config_files(tmp_path) == [other, upper]
    assert refused(other).endswith("model configs end in .yaml and the platform reads no other file: rename it to "
                                   "other.yaml")


def test_two_models_on_one_endpoint_are_refused_naming_the_first(tmp_path):
    first = write(tmp_path, "deployment: {endpoint_name: shared-api}\n", name="a_model")
    second = write(tmp_path, "deployment: {endpoint_name: shared-api}\n", name="b_model")
    registry_only = write(tmp_path, "deployment: {endpoint_name: null}\n", name="c_model")
    also_registry_only = write(tmp_path, "deployment: {endpoint_name: null}\n", name="d_model")
    configs, errors = load_model_configs([first, second, registry_only, also_registry_only])
    assert list(configs) == [first, registry_only, also_registry_only]
    assert errors == {second: f"{second}: field 'deployment.endpoint_name': 'shared-api' is already served for "
                              f"{first}; each model needs an endpoint of its own"}


@pytest.mark.parametrize(("data", "expected"), [
    ({"features": ["amount", "label"]}, "field 'data.features': 'label' is the target_column: the model would be "
                                        "given its own label; remove it from data.features"),
    ({"features": ["amount", "amount"]}, "field 'data.features': ['amount'] are empty, padded with spaces or "
                                         "listed twice"),
    ({"features": ["amount", " merchant_category"]}, "[' merchant_category'] are empty, padded with spaces"),
    ({"features": ["amount", ""]}, "[''] are empty"),
    ({"target_column": ""}, "field 'data.target_column': '' is no column name"),
    ({"timestamp_column": "label"}, "field 'data.timestamp_column': 'label' is the target_column too"),
    ({"feature_functions": ["card_windows", "no_such_view"]},
     "field 'data.feature_functions': 'no_such_view' is no registered feature view (registered: card_windows, "
     "merchant_category_stats"),
    ({"source": "s3://"}, "field 'data.source': 's3://' names no bucket or folder after 's3://'"),
    ({"features": ["amount", "score"]}, "field 'data.features': ['score'] named like the prediction log's own "
                                        "columns (request_id, model, model_version, predicted_at, score, entity_id)"),
])
def test_data_columns_that_cannot_make_a_model_are_refused(tmp_path, data, expected):
    raw = yaml.safe_load(BASE.format(name="model"))
    raw["data"].update(data)
    (tmp_path / "model.yaml").write_text(yaml.safe_dump(raw))
    assert expected in refused(tmp_path / "model.yaml")


def test_an_unknown_feature_view_is_a_check_config_error_not_a_crash(tmp_path, capsys):
    bad = write(tmp_path, "", name="bad")
    bad.write_text(bad.read_text().replace("features: [amount, merchant_category]",
                                           "features: [amount]\n  feature_functions: [nope]"))
    good = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"
    assert main(["check-config", str(bad), str(good)]) == 1
    out, err = capsys.readouterr()
    assert "fraud_detection.yaml  ->  model fraud_detection" in out
    assert "bad.yaml: invalid model config: field 'data.feature_functions': 'nope' is no registered" in err


def test_a_deployment_deadline_shorter_than_its_live_watch_is_refused(tmp_path):
    message = refused(write(tmp_path, "deployment:\n  watch: {timeout_hours: 40}\n"))
    assert message.endswith("field 'alerts.deployment_deadline_minutes': 2040 min, but a deployment's live watch "
                            "may wait 40 h for its data (deployment.watch.timeout_hours), so such deployments would "
                            "miss their deadline; set it to at least 2460 (the watch + 1 h), or null")
    for fine in ("deployment:\n  watch: {timeout_hours: 40}\nalerts: {deployment_deadline_minutes: 2460}\n",
                 "deployment:\n  watch: {timeout_hours: 40}\nalerts: {deployment_deadline_minutes: null}\n",
                 "deployment:\n  watch: {timeout_hours: 40, window_days: 0}\n"):
        load_model_config(write(tmp_path, fine))


@pytest.mark.parametrize(("line", "message"), [
    ("retries: true", "field 'retries': Input should be a valid integer (got True): true/false is no number"),
    ("retries: '3'", "field 'retries': Input should be a valid integer (got '3'): it is quoted, so YAML reads text"),
    ("retries: 2.5", "field 'retries': Input should be a valid integer (got 2.5): write a whole number"),
    ("enabled: 1", "field 'enabled': Input should be a valid boolean (got 1): write true or false, without quotes"),
    ("enabled: 'no'", "field 'enabled': Input should be a valid boolean (got 'no'): write true or false"),
    ("owner: 2026", "field 'owner': Input should be a valid string (got 2026): YAML reads this as a number or "
                    "true/false; put it in quotes"),
    ("owner: null", "field 'owner': Input should be a valid string (got None): null is not allowed here"),
    ("deployment: {min_auc_threshold: '0.9'}", "field 'deployment.min_auc_threshold': Input should be a valid "
                                               "number (got '0.9'): it is quoted"),
])
def test_a_value_of_the_wrong_yaml_type_is_refused_not_converted(tmp_path, line, message):
    """`retries: true` was read as 1 retry and `enabled: 1` as true: each now says how to write it."""
    assert message in refused(write(tmp_path, line + "\n"))


def test_a_whole_number_is_still_a_float_and_an_older_versions_lax_config_still_reproduces(tmp_path):
    from ml_pipeline.pipelines.reproduce import _recorded_config

    assert load_model_config(write(tmp_path, "retry_backoff: 2\n")).retry_backoff == 2.0
    stored = BASE.format(name="model") + "retries: '3'\n"  # as a version trained before the types were strict
    recorded_hash = load_model_config(write(tmp_path, "retries: 3\n")).content_hash()
    config = _recorded_config(stored, "model", "1")
    assert config.retries == 3 and config.content_hash() == recorded_hash  # reads as it did: no difference


def test_the_prediction_log_columns_a_feature_may_not_take_are_the_logs():
    from ml_pipeline.config import PREDICTION_LOG_COLUMNS
    from ml_pipeline.monitoring.prediction_frames import METADATA_SCHEMA

    assert tuple(METADATA_SCHEMA) == PREDICTION_LOG_COLUMNS
