"""``ml-pipeline``: the core's commands and the platform's, under one script; the platform's print what its
services return."""

import datetime as dt
import json

import pytest

from ml_pipeline.deployment.history import DeploymentEvent
from ml_pipeline.failures.dead_letters import DeadLetter
from ml_platform import dead_letter_ops, deployment_ops
from ml_platform.pipeline_cli import main


@pytest.fixture(autouse=True)
def platform_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "platform"))
    return tmp_path / "platform"


def test_the_script_offers_the_core_commands_and_the_platform_ones(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("generate-data", "check-config", "quarantine", "serve", "drift", "dlq", "alerts", "deployments",
                    "rollback", "monitor"):
        assert command in out


def test_a_core_command_runs_through_the_script(capsys):
    assert main(["check-config"]) == 0
    assert "->  model fraud_detection" in capsys.readouterr().out


def test_alerts_lists_what_the_sinks_received(platform_home, capsys):
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out.strip() == "no alerts received"
    store = platform_home / "alerts" / "received.jsonl"
    store.parent.mkdir(parents=True)
    store.write_text(json.dumps({"received_at": "2026-11-20T06:00:01.5", "channel": "slack",
                                 "text": "Task failed: ml_training_x.train\nmore"}) + "\n")
    assert main(["alerts"]) == 0
    assert capsys.readouterr().out.strip() == "2026-11-20T06:00:01  slack  Task failed: ml_training_x.train"


class FakeStore:
    def __init__(self, letters):
        self.letters = letters

    def list(self, status=None, model=None):
        return [letter for letter in self.letters if status in (None, letter.status)]

    def get(self, letter_id):
        raise LookupError(f"no dead letter with id {letter_id}; see `ml-pipeline dlq list --all`")


def test_dlq_list_shows_each_pending_letter_and_show_names_an_unknown_id(monkeypatch, capsys):
    letter = DeadLetter("ml_training_x", "manual__1", "train", 2, 3, "ValueError", "bad input\ntrace", model="x",
                        id=7, created_at=dt.datetime(2026, 11, 20, 6, 0, 1))
    monkeypatch.setattr(dead_letter_ops, "store", lambda layout: FakeStore([letter]))
    assert main(["dlq", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "    7  pending   2026-11-20 06:00:01  ml_training_x.train[2]  try 3  run manual__1",
        "       ValueError: bad input"]
    assert main(["dlq", "show", "8"]) == 1
    assert capsys.readouterr().err.strip() == "error: no dead letter with id 8; see `ml-pipeline dlq list --all`"


def test_dlq_replay_of_a_closed_letter_is_one_line_on_stderr(monkeypatch, capsys):
    def replay(layout, letter_id):
        raise ValueError(f"dead letter {letter_id} is already replayed")

    monkeypatch.setattr(dead_letter_ops, "replay", replay)
    assert main(["dlq", "replay", "3"]) == 1
    assert capsys.readouterr().err.strip() == "error: dead letter 3 is already replayed"


def test_rollback_says_what_was_verified_or_which_run_to_look_at(monkeypatch, capsys):
    event = DeploymentEvent("fraud_detection", "rolled_back", "3", "2", "bad canary (by me)", run_id="manual__9")
    runs = iter([deployment_ops.RollbackRun("model_deployment_fraud_detection", "manual__9", "success", event),
                 deployment_ops.RollbackRun("model_deployment_fraud_detection", "manual__10", "failed", None)])
    monkeypatch.setattr(deployment_ops, "rollback", lambda layout, model, to, reason: next(runs))
    assert main(["rollback", "fraud_detection", "--reason", "bad canary"]) == 0
    assert capsys.readouterr().out.strip() == ("fraud_detection: v3 → v2 (verified, run manual__9): "
                                               "bad canary (by me)")
    assert main(["rollback", "fraud_detection"]) == 1
    assert "rollback run manual__10 of model_deployment_fraud_detection ended failed" in capsys.readouterr().err


def test_platform_dag_ids_come_from_the_dag_kinds():
    from ml_platform.demo import dag_ids

    assert deployment_ops.deployment_dag_id("fraud_detection") == "model_deployment_fraud_detection"
    assert dag_ids("churn") == ("feature_engineering_churn", "ml_training_churn", "model_deployment_churn",
                                "model_monitoring_churn")


def test_deployments_with_mlflow_down_says_so_instead_of_not_registered(monkeypatch, capsys):
    from ml_pipeline.deployment.client import free_port

    monkeypatch.setenv("ML_PLATFORM_MLFLOW_PORT", str(free_port()))  # nobody listens there
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    assert main(["deployments", "fraud_detection"]) == 1
    out, err = capsys.readouterr()
    assert "not registered yet" not in out and "cannot read fraud_detection's aliases" in err
