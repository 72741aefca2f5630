"""Replaying a dead letter: in its run when the task is still failed, else in a new run; never in a gone or paused
DAG, never twice."""

import dataclasses
import datetime as dt

import pytest

from ml_pipeline.failures.dead_letters import DeadLetter, DeadLetterStore
from ml_pipeline.failures.spool import SPOOL_ENV, spool
from ml_platform import dead_letter_ops
from ml_platform.airflow_api import AirflowApiError, AirflowClient
from ml_platform.dead_letter_ops import _rerun
from ml_platform.layout import Layout

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


class GoneRunApi:
    """Airflow's answers when the letter's run is deleted and ``replay__<run>`` exists already in ``state``, its task
    instance in ``ti_state``."""

    def __init__(self, state: str, dag: dict | None = None, ti_state: str | None = None) -> None:
        self.state, self.ti_state, self.cleared = state, ti_state, []
        self.dag = {"is_paused": False, "is_stale": False} | (dag or {})

    def task_instance(self, dag_id, run_id, task_id, map_index=-1):
        if run_id == "gone":
            raise AirflowApiError("no such run", status=404)
        return {"task_id": task_id, "state": self.ti_state, "try_number": 2}

    def clear_task(self, dag_id, run_id, task_id, map_index=-1, note=None):
        self.cleared.append((run_id, task_id))
        return {"task_instances": [{"task_id": task_id}]}

    def request(self, method, path, json=None):
        if method == "GET":
            return self.dag
        raise AirflowApiError("replay__gone exists", status=409)

    def run(self, dag_id, run_id):
        if run_id == "gone":
            raise AirflowApiError("no such run", status=404)
        return {"dag_run_id": run_id, "state": self.state}


def letter(task_id: str) -> DeadLetter:
    return DeadLetter(dag_id="ml_training_fraud", run_id="gone", task_id=task_id, map_index=-1, try_number=1,
                      exception_type="E", exception_message="m", id=7, logical_date=DAY)


@pytest.mark.parametrize(("state", "ti_state", "cleared", "said"), [
    ("running", None, [], "it was triggered before and runs this task"),
    ("queued", None, [], "it was triggered before and runs this task"),
    ("failed", "upstream_failed", [("replay__gone", "train_model")], "cleared train_model in run replay__gone"),
    ("failed", "failed", [("replay__gone", "train_model")], "cleared train_model in run replay__gone"),
    ("success", "success", [], "train_model in run replay__gone ran again already (success): nothing cleared"),
])
def test_a_second_letter_of_a_gone_run_reruns_its_task_in_the_replay_run_unless_it_ran(state, ti_state, cleared,
                                                                                       said):
    """A replay run still going runs every task; in a finished one, this letter's task is cleared when it failed or
    never ran (the run failed before it), and left alone when it succeeded there (it must not register twice)."""
    api = GoneRunApi(state, ti_state=ti_state)
    note = _rerun(api, letter("train_model"))
    assert "triggered replay__gone" in note and said in note and api.cleared == cleared


class AssetRunGoneApi(GoneRunApi):
    """The letter's run is gone; the new run is accepted, its body kept; the DAG declares ``params``."""

    def __init__(self, params: dict) -> None:
        super().__init__("queued")
        self.params, self.posted = params, None

    def dag_params(self, dag_id):
        return self.params

    def request(self, method, path, json=None):
        if method == "GET":
            return self.dag
        self.posted = json
        return {"dag_run_id": json["dag_run_id"], "state": "queued", "logical_date": json["logical_date"]}


def asset_letter(dag_id: str, events: list[dict], conf: dict | None = None) -> DeadLetter:
    return DeadLetter(dag_id=dag_id, run_id="gone", task_id="evaluate_challenger", map_index=-1, try_number=3,
                      exception_type="E", exception_message="m", id=9, conf=conf or {},
                      inputs={"triggering_asset_events": events})


def test_a_gone_deployment_run_is_replayed_with_the_version_its_asset_events_named():
    """A manual run sees no asset event: without the version it deployed nothing (or failed), silently."""
    api = AssetRunGoneApi({"action": {}, "version": {}, "to_version": {}, "reason": {}})
    events = [{"uri": "ml://m/registered", "extra": {"version": "9"}},
              {"uri": "ml://m/registered", "extra": {"version": 12}}]
    said = _rerun(api, asset_letter("model_deployment_m", events))
    assert api.posted["conf"] == {"version": "12"} and api.posted["logical_date"] is None
    assert said.endswith("(no logical date recorded: the new run has none); its asset events' version 12 passed on")
    api = AssetRunGoneApi({"action": {}, "version": {}})  # a version given by hand in the gone run's conf stays
    _rerun(api, asset_letter("model_deployment_m", events, conf={"version": "7"}))
    assert api.posted["conf"] == {"version": "7"}


def test_a_gone_training_run_gets_the_newest_day_of_its_feature_events_as_its_logical_date():
    """A retraining request names the monitored version too: training declares no `version`, so none is sent (it
    would fail the run as an unknown conf key)."""
    api = AssetRunGoneApi({"force": {}})
    events = [{"uri": "ml://m/features", "extra": {"days": ["2026-12-04", "2026-12-06", "2026-12-05"]}},
              {"uri": "ml://m/retrain", "extra": {"trigger": "drift", "version": "3"}}]
    said = _rerun(api, asset_letter("ml_training_m", events))
    # a microsecond per letter id: two letters of one day's feature runs never ask for the same logical date
    assert api.posted["conf"] == {} and api.posted["logical_date"] == "2026-12-06T00:00:00.000009+00:00"
    assert said == "run gone is gone: triggered replay__gone with the same conf; its asset events' logical date " \
                   "2026-12-06 passed on"


@pytest.mark.parametrize("inputs", [
    {"triggering_asset_events": [{"uri": "ml://m/registered", "extra": ["version", "12"]}]},
    {"triggering_asset_events": [{"uri": "ml://m/features", "extra": "2026-12-06"}, "event", 12]},
    {"triggering_asset_events": {"uri": "ml://m/registered", "extra": {"version": "12"}}},
    {"triggering_asset_events": [{"uri": "ml://m/features", "extra": {"days": "2026-12-06"}}]},
    ["triggering_asset_events"],
])
def test_a_hand_edited_letter_whose_events_are_of_another_shape_is_replayed_without_them(inputs):
    """`dlq show` prints the inputs and an operator may edit the database: a shape the notifier never writes says
    nothing (the replay is the plain one), it never fails the replay."""
    api = AssetRunGoneApi({"version": {}})
    gone = dataclasses.replace(asset_letter("model_deployment_m", []), inputs=inputs)
    said = _rerun(api, gone)
    assert api.posted["conf"] == {} and api.posted["logical_date"] is None
    assert said == "run gone is gone: triggered replay__gone with the same conf (no logical date recorded: the new " \
                   "run has none)"


@pytest.mark.parametrize("version", ["²", "9" * 5000, "01", 0, "v12"])
def test_a_letter_whose_events_name_no_version_is_not_replayed_as_the_challenger_alias(version):
    """The run failed on that version (asset_events refuses it): replayed without it, it would deploy the alias."""
    api = AssetRunGoneApi({"version": {}})
    gone = dataclasses.replace(asset_letter("model_deployment_m", []), inputs={"triggering_asset_events": [
        {"uri": "ml://m/registered", "extra": {"version": "12"}}, {"uri": "ml://m/registered",
                                                                   "extra": {"version": version}}]})
    with pytest.raises(ValueError, match="which is no version .*trigger model_deployment_m with the version you mean"):
        _rerun(api, gone)
    assert api.posted is None


class TaskStillThereApi(GoneRunApi):
    """The letter's run exists; its task instance is in ``state``."""

    def __init__(self, state: str | None, dag: dict | None = None) -> None:
        super().__init__("failed", dag, ti_state=state)

    def run(self, dag_id, run_id):
        return {"dag_run_id": run_id, "state": self.state}

    def task_instance(self, dag_id, run_id, task_id, map_index=-1):
        if task_id == "renamed":
            raise AirflowApiError("Task instance not found", status=404)
        return {"task_id": task_id, "state": self.ti_state, "try_number": 2}


def test_a_failed_task_is_cleared_with_every_task_after_it_in_its_own_run():
    api = TaskStillThereApi("failed")
    assert _rerun(api, letter("train_model")) == ("cleared train_model in run gone with every task after it that "
                                                 "did not succeed")
    assert api.cleared == [("gone", "train_model")]


@pytest.mark.parametrize("state", [None, "queued", "running", "up_for_retry"])
def test_a_task_running_again_already_is_not_cleared_twice(state):
    """Cleared by hand, or a replay whose answer was lost (a proxy's 502): the letter is done, nothing restarts."""
    api = TaskStillThereApi(state)
    assert _rerun(api, letter("train_model")).endswith(f"is running again already ({state or 'cleared'}, try 2): "
                                                       "nothing cleared")
    assert api.cleared == []


@pytest.mark.parametrize(("state", "task", "message"), [
    # a 404 for the task instance of a run that exists is no gone run: a second run beside it would run everything
    ("failed", "renamed", "ml_training_fraud.renamed in run gone does not exist .*dlq discard 7"),
    ("upstream_failed", "train_model", "is upstream_failed now .*: replay that task's dead letter"),
    ("success", "train_model", "nothing to replay: .*train_model in run gone is success now .*dlq discard 7"),
])
def test_a_task_gone_from_its_run_or_no_longer_failed_there_is_refused_with_what_to_do(state, task, message):
    api = TaskStillThereApi(state)
    with pytest.raises(ValueError, match=message):
        _rerun(api, letter(task))
    assert api.cleared == []


@pytest.mark.parametrize(("api", "message"), [
    (TaskStillThereApi("failed", {"is_paused": True}), "DAG ml_training_fraud is paused, so a rerun would not start"),
    (GoneRunApi("queued", {"is_paused": True}), "is paused, so a rerun would not start: unpause it"),
    (TaskStillThereApi("failed", {"is_stale": True}), "DAG ml_training_fraud is gone .*dlq discard 7"),
])
def test_a_paused_or_gone_dag_is_refused_and_nothing_runs(api, message):
    with pytest.raises(ValueError, match=message):
        _rerun(api, letter("train_model"))
    assert api.cleared == []


def test_a_letter_whose_conf_is_no_object_is_refused_with_what_to_do():
    api = AssetRunGoneApi({})
    with pytest.raises(ValueError, match=r"its conf is no JSON object \(\[1\]\): trigger ml_training_m"):
        _rerun(api, dataclasses.replace(asset_letter("ml_training_m", []), conf=[1]))
    assert api.posted is None


@pytest.mark.parametrize("spool_env", [True, False])
def test_the_queue_takes_in_the_letters_of_the_spool_the_tasks_write_to(tmp_path, monkeypatch, spool_env):
    """Compose and Helm set ``ML_PLATFORM_DLQ_SPOOL`` for every process (not ``ML_PLATFORM_HOME``); the embedded
    platform gives its tasks the folder in its home, even when the shell names another one."""
    url = f"sqlite:///{tmp_path / 'dlq.db'}"
    DeadLetterStore(url).create_schema()
    monkeypatch.setattr(dead_letter_ops.database, "database_url", lambda layout, name: url)
    layout = Layout(tmp_path / "home")
    folder = tmp_path / "var" / "dlq-spool" if spool_env else layout.dlq_spool
    if spool_env:
        monkeypatch.setenv(SPOOL_ENV, str(folder))
    else:
        monkeypatch.delenv(SPOOL_ENV, raising=False)
    spool(letter("train_model"), folder)
    spool(letter("evaluate_model"), layout.dlq_spool)  # the embedded platform's, whatever the shell says
    assert {d.task_id for d in dead_letter_ops.store(layout).list()} == {"train_model", "evaluate_model"}
    assert list(folder.glob("*.json")) == list(layout.dlq_spool.glob("*.json")) == []


def test_the_clear_takes_the_failed_task_and_what_after_it_did_not_succeed(monkeypatch):
    """The deployment after a failed canary: promote upstream_failed, roll_back skipped (cleared: they decide again);
    notify succeeded (kept); the evaluation before it and a task beside it are none of the replay's business."""
    dag = {"evaluate": ["canary"], "canary": ["promote", "notify"], "promote": ["roll_back", "score"],
           "roll_back": [], "notify": [], "score": [], "lint": []}
    states = [("evaluate", -1, "success"), ("canary", -1, "failed"), ("promote", -1, "upstream_failed"),
              ("roll_back", -1, "skipped"), ("notify", -1, "success"), ("lint", -1, "failed"),
              ("score", 0, "upstream_failed"), ("score", 1, "success")]
    asked = []

    def request(method, path, *, json=None, params=None, idempotent=None):
        asked.append((method, path, json, idempotent))
        if path.endswith("/tasks"):
            return {"tasks": [{"task_id": t, "downstream_task_ids": after} for t, after in dag.items()]}
        if path.endswith("/taskInstances"):
            page = [{"task_id": t, "map_index": i, "state": s} for t, i, s in states][params["offset"]:][:5]
            return {"task_instances": page, "total_entries": len(states)}
        return {"task_instances": []}

    client = AirflowClient("http://127.0.0.1:1", "u", "p")
    monkeypatch.setattr(client, "request", request)
    client.clear_task("model_deployment_m", "r1", "canary", note="replay of dead letter 7 by ops")
    method, path, body, idempotent = asked[-1]
    assert (method, path, idempotent) == ("POST", "/dags/model_deployment_m/clearTaskInstances", False)
    assert body["task_ids"] == ["canary", "promote", "roll_back", ["score", 0]]
    assert (body["include_downstream"], body["only_failed"], body["prevent_running_task"]) == (False, False, True)
    assert body["note"] == "replay of dead letter 7 by ops"
