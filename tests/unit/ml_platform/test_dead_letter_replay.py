"""Replaying a dead letter whose run is gone, when another letter of that run was replayed first."""

import datetime as dt

import pytest

from ml_pipeline.failures.dead_letters import DeadLetter
from ml_platform.airflow_api import AirflowApiError
from ml_platform.dead_letter_ops import _rerun

DAY = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


class GoneRunApi:
    """Airflow's answers when the letter's run is deleted and ``replay__<run>`` exists already in ``state``."""

    def __init__(self, state: str) -> None:
        self.state, self.cleared = state, []

    def clear_task(self, dag_id, run_id, task_id, map_index=-1):
        if run_id == "gone":
            raise AirflowApiError("no such run", status=404)
        self.cleared.append((run_id, task_id))
        return {"task_instances": [{"task_id": task_id}]}

    def unpause(self, dag_id):
        pass

    def request(self, method, path, json=None):
        raise AirflowApiError("replay__gone exists", status=409)

    def run(self, dag_id, run_id):
        return {"dag_run_id": run_id, "state": self.state}


def letter(task_id: str) -> DeadLetter:
    return DeadLetter(dag_id="ml_training_fraud", run_id="gone", task_id=task_id, map_index=-1, try_number=1,
                      exception_type="E", exception_message="m", id=7, logical_date=DAY)


@pytest.mark.parametrize(("state", "cleared"), [("running", []), ("queued", []),
                                                ("failed", [("replay__gone", "train_model")])])
def test_a_second_letter_of_a_gone_run_reruns_its_task_in_the_replay_run(state, cleared):
    """A replay run still going runs every task; a finished one (failed before reaching this task, say) has this
    letter's task cleared in it, so marking the letter replayed means its task runs again."""
    api = GoneRunApi(state)
    said = _rerun(api, letter("train_model"))
    assert "triggered replay__gone" in said and api.cleared == cleared
