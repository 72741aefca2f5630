import pytest

from ml_pipeline.cli import main
from ml_pipeline.config import load_model_config


def test_check_config_accepts_the_repository_configs(capsys):
    assert main(["check-config"]) == 0
    assert "ml_training_fraud_detection" in capsys.readouterr().out


def test_check_config_names_file_field_expected_and_found(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: Bad-Name\ndata: {source: x, target_column: y, features: [a]}\n")
    assert main(["check-config", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.yaml" in err and "field 'model_name'" in err and "should match pattern" in err
    assert "got 'Bad-Name'" in err


def test_new_model_writes_a_valid_commented_starter(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(tmp_path))
    assert main(["new-model", "churn"]) == 0
    config = load_model_config(tmp_path / "churn.yaml")
    assert config.training_dag_id == "ml_training_churn"
    assert "# churn: one file per model" in (tmp_path / "churn.yaml").read_text()
    assert main(["new-model", "churn"]) == 1
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Churn", "1churn"])
def test_new_model_rejects_invalid_names(tmp_path, monkeypatch, name):
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(tmp_path))
    assert main(["new-model", name]) == 1
    assert not list(tmp_path.iterdir())
