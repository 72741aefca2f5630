"""The command line when the platform is down or an argument is wrong: one line saying what and the fix, no
traceback, nothing written where it should not be.

The services are really absent: a closed port for Airflow and MLflow, a PostgreSQL URL nobody listens on.
"""

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ml_platform.cli import main as platform_main
from ml_platform.layout import Layout, free_port
from ml_platform.pipeline_cli import main
from ml_platform.secrets import ensure_secrets
from tests.conftest import REPO_ROOT

ML_PIPELINE = str(Path(sys.executable).parent / "ml-pipeline")


@pytest.fixture
def down(tmp_path, monkeypatch):
    """A platform home that never started, its Airflow, MLflow and database on ports nothing listens on."""
    closed = free_port()
    for name in ("ML_PLATFORM_AIRFLOW_PORT", "ML_PLATFORM_MLFLOW_PORT"):
        monkeypatch.setenv(name, str(closed))
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{closed}")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("ML_LAKE_URI", raising=False)
    return tmp_path / "home"


@pytest.mark.parametrize("argv", [["dlq", "list"], ["dlq", "show", "3"], ["dlq", "discard", "3", "--reason", "x"]])
def test_a_database_that_does_not_answer_is_one_line_with_the_hint(down, capsys, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: the platform's database does not answer (") and err.count("\n") == 1, err
    assert err.rstrip().endswith("is the platform up (`make status`)?")


@pytest.mark.parametrize("argv", [["monitor", "fraud_detection", "--check"], ["dlq", "replay", "3"]])
def test_an_airflow_that_does_not_answer_is_one_line_with_the_hint(down, capsys, argv, monkeypatch):
    from ml_platform import dead_letter_ops

    layout = Layout.from_env()
    ensure_secrets(layout.secrets_file, layout.passwords_file)  # a platform that ran here, down now
    monkeypatch.setattr(dead_letter_ops, "store", lambda layout: StoreOf(down))  # dlq replay: past the database
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: http://127.0.0.1:") and "does not answer (ConnectError" in err, err
    assert err.rstrip().endswith("is the platform up (`make status`)?") and "Traceback" not in err


def test_a_rollback_asks_the_registry_for_its_target_before_anything_changes(down, capsys):
    """A version that is none, or MLflow down, is said before any deployment's watch is ended or a DAG unpaused."""
    ensure_secrets(Layout.from_env().secrets_file, Layout.from_env().passwords_file)  # a platform that ran here
    assert main(["rollback", "fraud_detection", "--reason", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MLflow registry unreachable or failing: ") and err.count("\n") == 1, err
    assert err.rstrip().endswith("is the platform up (`make status`)?")
    with pytest.raises(SystemExit):
        main(["rollback", "fraud_detection", "--to", "abc"])
    assert "'abc' is not a model version: MLflow numbers them 1, 2, …" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the deployment DAG takes 500: refused before any watch is ended
        main(["rollback", "fraud_detection", "--reason", "x" * 401])
    assert "argument --reason: 401 characters: say it in at most 400" in capsys.readouterr().err


def test_a_home_where_no_platform_ever_ran_is_said_and_left_as_it_was(down, capsys):
    assert main(["rollback", "fraud_detection", "--reason", "x"]) == 1
    assert capsys.readouterr().err == (f"error: no platform in {down}: secrets.json is not there, so none was ever "
                                       "started in it; `make up`, or set ML_PLATFORM_HOME to the platform's home\n")
    assert not (down / "secrets.json").exists()  # a later `up` would otherwise start with secrets nobody chose


class StoreOf:
    """A dead-letter store holding one pending letter, so that ``replay`` goes on to Airflow."""

    def __init__(self, home):
        from ml_pipeline.failures.dead_letters import DeadLetter

        self.letter = DeadLetter("ml_training_x", "manual__1", "train", 2, 3, "ValueError", "bad", model="x", id=3,
                                 created_at=dt.datetime(2026, 11, 20, 6, 0, 1))

    def get(self, letter_id):
        return self.letter


def test_mlflow_down_is_said_after_a_few_retries_not_minutes(down):
    """MLflow's client retries 7 times over about 4 minutes; a command in a shell says so after two."""
    done = subprocess.run([ML_PIPELINE, "deployments", "fraud_detection"], capture_output=True, text=True,
                          timeout=90)
    assert done.returncode == 1
    assert "error: cannot read fraud_detection's aliases: MLflow registry unreachable" in done.stderr
    assert "Retry(total=0" in done.stderr and "Retry(total=3" not in done.stderr  # two retries, then the answer


def test_a_port_variable_that_is_not_a_port_names_it_in_both_scripts(down, monkeypatch, capsys):
    monkeypatch.setenv("ML_PLATFORM_AIRFLOW_PORT", "80a")
    assert main(["dlq", "list"]) == 2
    assert platform_main(["status"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == ["error: ML_PLATFORM_AIRFLOW_PORT='80a' is not a port: set it to a number from 1 to 65535, or "
                   "unset it (default 8080), in your shell or in <home>/platform.env, where `up` records it"] * 2


def test_status_of_a_platform_that_is_down_says_how_to_start_it(down, capsys):
    assert platform_main(["status"]) == 0
    out = capsys.readouterr().out
    assert "platform: down" in out and "start it: `make up`" in out


def test_generate_data_writes_the_platforms_lake_from_any_folder_and_refuses_empty_days(down, tmp_path,
                                                                                       monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["generate-data", "--end-date", "2026-11-20", "--days", "1", "--rows-per-day", "50"]
    assert main(argv) == 0
    [written] = (down / "lake" / "transactions" / "2026-11-20").glob("*.parquet")
    assert not (tmp_path / ".platform").exists()  # not the folder the command was typed in
    before = written.read_bytes()
    for bad, message in ((["--rows-per-day", "0"], "argument --rows-per-day: 0 is below 1"),
                         (["--days", "-3"], "argument --days: -3 is below 1"),
                         (["--end-date", "2026-13-01"], "'2026-13-01' is not a date: write YYYY-MM-DD")):
        with pytest.raises(SystemExit) as exited:
            main([*argv, *bad])
        assert exited.value.code == 2 and message in capsys.readouterr().err
    assert main([*argv, "--end-date", "2999-01-01"]) == 2  # a day no training would ever take
    assert "error: --end-date 2999-01-01 is after today (" in capsys.readouterr().err
    assert written.read_bytes() == before and not (down / "lake" / "transactions" / "2999-01-01").exists()
    with pytest.raises(SystemExit) as exited:  # the demo too, before it starts anything
        platform_main(["demo", "--rows-per-day", "0"])
    assert exited.value.code == 2 and "argument --rows-per-day: 0 is below 1" in capsys.readouterr().err
    assert not (down / "state.json").exists()


@pytest.mark.parametrize("argv", [["reproduce", "fraud_detection", "abc"], ["lineage", "fraud_detection", "0"]])
def test_a_version_that_is_no_number_is_refused_before_anything_is_asked(down, capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert f"argument version: '{argv[-1]}' is not a model version: MLflow numbers them 1, 2, …" in (
        capsys.readouterr().err)


def test_a_lake_or_config_folder_that_does_not_exist_is_not_reported_as_empty(down, tmp_path, capsys, monkeypatch):
    assert main(["quarantine", "list", "--lake", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.startswith(f"error: no lake at {tmp_path / 'nowhere'}: --lake")
    assert main(["gc", "--dry-run", "--config-dir", str(tmp_path / "nowhere"), "--lake", str(tmp_path)]) == 2
    assert f"{tmp_path / 'nowhere'}: no such folder of model configs" in capsys.readouterr().err
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(tmp_path / "nowhere"))
    assert main(["check-config"]) == 1
    assert capsys.readouterr().err.startswith(f"no model configs found in {tmp_path / 'nowhere'}: no such folder; "
                                              "ML_PIPELINE_CONFIG_DIR names the folder of model configs")


def test_a_training_run_on_missing_data_is_one_line(down, tmp_path, capsys):
    config = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"
    assert main(["run-training", str(config), "--date", "2020-01-01", "--lake", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MissingPartitionError: partition ") and "generate-data" in err, err


def test_reproduce_with_mlflow_down_exits_3_not_1_which_says_different(down, capsys):
    closed = f"http://127.0.0.1:{free_port()}"
    assert main(["reproduce", "fraud_detection", "1", "--tracking-uri", closed]) == 3
    [err] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err.startswith("error: TransientError: MLflow registry unreachable or failing: MlflowException: API "
                          f"request to {closed}/"), err
    assert err.endswith(": nothing was compared (exit 3)")


def test_a_training_run_with_mlflow_down_is_one_line_with_the_fix(down, tmp_path, capsys):
    """The data is there and valid; the tracking server is not (after the client's two retries): no traceback."""
    assert main(["generate-data", "--lake", str(tmp_path), "--end-date", "2026-11-20", "--days", "7",
                 "--rows-per-day", "3000"]) == 0
    config = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"
    closed = f"http://127.0.0.1:{free_port()}"
    assert main(["run-training", str(config), "--date", "2026-11-20", "--lake", str(tmp_path),
                 "--tracking-uri", closed]) == 1
    [err] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert err.startswith(f"error: MLflow does not answer (MlflowException: API request to {closed}/"), err
    assert err.endswith("start the platform (`make up`), or point --tracking-uri (or MLFLOW_TRACKING_URI) at a "
                        "running MLflow server, then run the command again"), err


def test_alerts_skip_a_line_cut_short_and_say_so(down, capsys, caplog):
    store = down / "alerts" / "received.jsonl"
    store.parent.mkdir(parents=True)
    whole = {"received_at": "2026-11-20T06:00:01.5", "channel": "slack", "text": "Task failed: x"}
    blocks = {"received_at": "2026-11-20T06:00:03", "channel": "slack", "text": ""}  # a post of blocks only
    store.write_text(json.dumps(whole) + "\n" + '{"received_at": "2026-11-20T06:00:02", "chan' + "\n[1]\n"
                     + json.dumps(blocks) + "\n")
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == ["2026-11-20T06:00:01  slack  Task failed: x",
                                                            "2026-11-20T06:00:03  slack  (no text)"]
    assert f"{store}, line 2: not a JSON message (a write cut short?): skipped" in caplog.text
    assert f"{store}, line 3: not a JSON message" in caplog.text
    store.unlink()
    store.mkdir()
    assert main(["alerts"]) == 1
    assert capsys.readouterr().err == (f"error: {store}: not a regular file (a folder?), not the alert sinks' file "
                                       "of received messages: remove it (the sinks write it again at their next "
                                       "message)\n")


@pytest.mark.parametrize(("argv", "message"), [
    (["serve", "fraud_detection", "--port", "99999"], "argument --port: 99999 is not a port: 1 to 65535"),
    (["quarantine", "release", "--model", "m", "p", "--reason", " "], "argument --reason: say why"),
    (["dlq", "discard", "3", "--reason", ""], "argument --reason: say why"),
    (["reproduce", "fraud_detection", "1", "--tolerance", "-1"], "argument --tolerance: -1 is no tolerance"),
    (["reproduce", "fraud_detection", "1", "--tolerance", "nan"], "argument --tolerance: nan is no tolerance"),
    (["monitor", "fraud_detection", "--checks", "-3"], "argument --checks: -3 is below 1"),
])
def test_an_argument_that_cannot_be_right_is_refused_by_the_parser(down, capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and message in capsys.readouterr().err


def test_a_home_that_is_a_file_or_a_database_url_without_a_server_is_named(down, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ML_PLATFORM_HOME", str(REPO_ROOT / "README.md"))
    assert main(["dlq", "list"]) == 2 and platform_main(["status"]) == 2 and platform_main(["up"]) == 2
    assert capsys.readouterr().err.count(f"ML_PLATFORM_HOME={REPO_ROOT / 'README.md'} is a file, not a folder") == 3
    monkeypatch.setenv("ML_PLATFORM_HOME", str(down))
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:s3cret@/ml")  # no host: the local socket
    assert main(["dlq", "list"]) == 1
    err = capsys.readouterr().err
    assert "ML_PLATFORM_DATABASE_URL='postgresql:/ml' names no PostgreSQL server" in err and "s3cret" not in err


def test_a_state_file_that_is_a_folder_is_named_with_the_fix(down, capsys):
    (down / "state.json").mkdir(parents=True)
    assert platform_main(["status"]) == 2 and platform_main(["down"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: {down / 'state.json'}: a folder, not the platform's state file: remove it (the next `up` writes it "
        "again) or give this user access to it"] * 2


def test_check_config_given_a_folder_says_so(down, tmp_path, capsys):
    assert main(["check-config", str(tmp_path)]) == 1
    assert f"{tmp_path}: a folder, not a config file: name its *.yaml files" in capsys.readouterr().err


def test_logs_say_when_there_are_none_and_which_components_there_are(down, capsys):
    assert platform_main(["logs"]) == 1
    assert capsys.readouterr().err == f"no logs in {down / 'logs'}: the platform never ran in {down} (`make up`)\n"
    (down / "logs").mkdir(parents=True)
    for name in ("scheduler", "mlflow"):
        (down / "logs" / f"{name}.log").write_text(f"{name} started\n")
    assert platform_main(["logs", "schedular"]) == 1
    assert capsys.readouterr().err == "no log of 'schedular'; the components: mlflow, scheduler\n"
    assert platform_main(["logs", "scheduler", "-n", "5"]) == 0
    assert "scheduler started" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        platform_main(["logs", "-n", "-5"])
    assert "argument -n/--lines: -5 is below 1" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["quarantine", "list", "--lake", "s3://ml-lake/lake"],
                                  ["validate", "--data", "s3://ml-lake/lake/transactions/2026-12-01", "--model",
                                   "fraud_detection"]])
@pytest.mark.parametrize("credentials", [False, True])
def test_an_s3_lake_this_machine_cannot_use_is_one_line(down, tmp_path, argv, credentials):
    """The console script in a process of its own: fsspec keeps an S3 filesystem per process, credentials and all."""
    import os

    env = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_EC2_METADATA_DISABLED="true", AWS_ENDPOINT_URL=f"http://127.0.0.1:{free_port()}")  # down storage
    if credentials:
        env.update(AWS_ACCESS_KEY_ID="ml", AWS_SECRET_ACCESS_KEY="secret")
    result = subprocess.run([ML_PIPELINE, *argv], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    err = "\n".join(line for line in result.stderr.splitlines() if " INFO " not in line) + "\n"  # botocore's INFO
    expected = "error: S3 does not answer (" if credentials else "error: S3 has no credentials on this machine ("
    assert err.startswith(expected) and err.count("\n") == 1 and "Traceback" not in err, err
    assert ("AWS_ENDPOINT_URL" if credentials else "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY") in err


def test_a_count_in_the_recorded_settings_that_is_no_number_names_it_and_down_still_answers(down):
    """`ML_PLATFORM_PARALLELISM=abc` in platform.env broke every `ml-platform` command (`down` too) with a traceback."""
    import os

    down.mkdir(parents=True)
    (down / "platform.env").write_text("ML_PLATFORM_PARALLELISM=abc\n")
    env = {**os.environ, "ML_PLATFORM_HOME": str(down)}
    env.pop("ML_PLATFORM_PARALLELISM", None)
    result = subprocess.run([str(Path(sys.executable).parent / "ml-platform"), "down"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == ("error: ML_PLATFORM_PARALLELISM='abc' is not a whole number above 0: fix it, or "
                                     "unset it (default 32), in your shell or in <home>/platform.env, where `up` "
                                     "records it")
