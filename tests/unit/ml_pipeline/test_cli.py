import pytest

from ml_pipeline.cli import COMMAND_GROUPS, build_parser, main
from ml_pipeline.cli.training import in_process_id
from ml_pipeline.config import load_model_config
from tests.conftest import REPO_ROOT

FRAUD_CONFIG = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"


def test_check_config_accepts_the_repository_configs(capsys):
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "fraud_detection.yaml  ->  model fraud_detection" in out
    assert "ml_training_" not in out  # the DAG kinds own the dag ids, not the core


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
    assert config.model_name == "churn"
    assert "# churn: one file per model" in (tmp_path / "churn.yaml").read_text()
    assert main(["new-model", "churn"]) == 1
    assert "exists already" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["Churn", "1churn"])
def test_new_model_rejects_invalid_names(tmp_path, monkeypatch, name):
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(tmp_path))
    assert main(["new-model", name]) == 1
    assert not list(tmp_path.iterdir())


def test_the_core_cli_offers_only_the_core_commands(capsys):
    usage = build_parser(COMMAND_GROUPS).format_usage()
    commands = usage[usage.index("{") + 1:usage.index("}")].split(",")
    assert commands == ["generate-data", "run-training", "check-config", "new-model", "validate", "quarantine",
                        "serve", "drift", "reproduce", "gc"]
    with pytest.raises(SystemExit) as exit_:
        main(["dlq", "list"])  # a platform command: ml_platform.pipeline_cli adds it, the core does not know it
    assert exit_.value.code == 2
    assert "invalid choice: 'dlq'" in capsys.readouterr().err


def test_every_command_is_bound_to_its_handler():
    parser = build_parser()
    for argv in (["generate-data"], ["run-training", "x.yaml"], ["check-config"], ["new-model", "m"],
                 ["validate", "--model", "m", "--data", "d"], ["quarantine", "list"],
                 ["quarantine", "release", "p", "--model", "m", "--reason", "r"], ["serve", "m"],
                 ["drift", "--model", "m", "--reference", "a", "--current", "b"], ["reproduce", "m", "1"],
                 ["gc", "--dry-run"]):
        assert callable(parser.parse_args(argv).handler), argv


def test_run_training_files_an_in_process_run_under_its_own_id(monkeypatch, tmp_path, capsys):
    import ml_pipeline.pipelines.training as training

    seen = []
    monkeypatch.setattr(training, "run_in_process", lambda ctx: seen.append(ctx) or {"dag_id": ctx.dag_id})
    assert main(["run-training", str(FRAUD_CONFIG), "--lake", str(tmp_path), "--run-id", "r1"]) == 0
    [ctx] = seen
    assert ctx.dag_id == in_process_id("fraud_detection") == "in_process_fraud_detection"
    assert ctx.run_prefix.endswith("/runs/in_process_fraud_detection/r1")
    assert '"dag_id": "in_process_fraud_detection"' in capsys.readouterr().out


def test_run_training_refuses_a_broken_config_naming_it(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model_name: Bad-Name\n")
    assert main(["run-training", str(bad), "--lake", str(tmp_path)]) == 2
    assert "bad.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(("uri", "said"), [("notaurl", "is a folder"), ("file:///tmp/mlruns", "is a folder"),
                                         ("http://", "names no host"),
                                         ("localhost:5000", "has no scheme: did you mean 'http://localhost:5000'?"),
                                         ("127.0.0.1:5000", "has no scheme: did you mean 'http://127.0.0.1:5000'?"),
                                         ("databricks-uc", "is a Unity Catalog registry"),
                                         ("uc:http://localhost:8080", "is a Unity Catalog registry")])
@pytest.mark.parametrize("command", [["run-training", str(FRAUD_CONFIG)], ["reproduce", "m", "1"], ["gc"]])
def test_a_tracking_uri_that_cannot_be_mlflows_is_refused_before_any_data_is_read(
        monkeypatch, tmp_path, capsys, uri, said, command):
    import ml_pipeline.pipelines.training as training

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.setattr(training, "run_in_process", lambda ctx: pytest.fail("ran with an unusable tracking URI"))
    for argv, env in (([*command, "--tracking-uri", uri], None), (command, uri)):  # the option, or the environment
        if env is None:
            monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
        else:
            monkeypatch.setenv("MLFLOW_TRACKING_URI", env)
        with pytest.raises(SystemExit) as exit_:
            main([*argv, "--lake", str(tmp_path)] if command[0] != "reproduce" else argv)
        assert exit_.value.code == 2
        err = capsys.readouterr().err
        assert f"argument --tracking-uri: {uri!r} {said}" in err, err
        assert "http://127.0.0.1:5000" in err and "sqlite:///mlflow.db" in err and "MLFLOW_TRACKING_URI" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example:443/", "sqlite:///x/mlflow.db",
                                 "postgresql+psycopg://u@db/mlflow", "databricks", "databricks://profile"])
def test_servers_and_databases_are_tracking_uris_and_a_folder_is_one_with_mlflows_opt_out(monkeypatch, uri):
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    parser = build_parser()
    assert parser.parse_args(["run-training", "x.yaml", "--tracking-uri", uri]).tracking_uri == uri
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert parser.parse_args(["gc", "--tracking-uri", "./mlruns"]).tracking_uri == "./mlruns"


def test_only_mlflow_not_answering_becomes_one_line_and_every_other_failure_keeps_its_traceback():
    from mlflow.exceptions import MlflowException, RestException

    from ml_pipeline.cli import service_problem

    unavailable = RestException({"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"})  # a subclass
    assert service_problem(unavailable).startswith("MLflow does not answer (RestException: TEMPORARILY_UNAVAILABLE")
    assert service_problem(MlflowException("bad request")) is None  # a client error: not "start MLflow"
    try:  # a bug raised while handling a connection error: its traceback stays
        try:
            raise ConnectionError("refused")
        except ConnectionError:
            raise KeyError("model")  # noqa: B904 - the implicit chain is the point
    except KeyError as bug:
        assert service_problem(bug) is None
    assert service_problem(BrokenPipeError("output closed (| head)")) is None


def test_serve_listens_where_asked_and_logs_predictions_with_the_configs_entity_key(monkeypatch, tmp_path, capsys):
    import ml_pipeline.deployment.serving as serving

    started = []
    monkeypatch.setattr(serving, "main", started.append)
    monkeypatch.delenv("ML_PREDICTION_LOG_URI", raising=False)
    monkeypatch.delenv("ML_PIPELINE_CONFIG_DIR", raising=False)
    assert main(["serve", "fraud_detection"]) == 0  # this machine only, no log
    assert started.pop() == ["--model", "fraud_detection", "--port", "8500", "--host", "127.0.0.1"]
    assert main(["serve", "fraud_detection", "--host", "0.0.0.0", "--prediction-log", "s3://lake"]) == 0
    assert started.pop()[4:] == ["--host", "0.0.0.0", "--prediction-log", "s3://lake", "--entity-key",
                                 "transaction_id"]
    monkeypatch.setenv("ML_PREDICTION_LOG_URI", "s3://lake")  # the server logs by itself: the key still goes with it
    assert main(["serve", "fraud_detection"]) == 0 and started.pop()[-2:] == ["--entity-key", "transaction_id"]
    assert main(["serve", "fraud_detection", "--version", "3"]) == 0  # a pinned server logs only when told
    assert "--entity-key" not in started.pop() and not capsys.readouterr().err
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(tmp_path))  # a serving host without the configs
    assert main(["serve", "fraud_detection"]) == 0 and "--entity-key" not in started.pop()
    assert "give --entity-key" in capsys.readouterr().err
    assert main(["serve", "fraud_detection", "--entity-key", "id"]) == 0
    assert started.pop()[-2:] == ["--entity-key", "id"]
