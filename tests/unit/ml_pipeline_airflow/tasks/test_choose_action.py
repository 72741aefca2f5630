"""``choose_action``: a conf naming the other action's version is refused before anything is done."""

from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline_airflow.tasks import deployment as tasks

PARAMS = {"action": "deploy", "version": None, "to_version": None, "reason": None}


def choose(monkeypatch, conf: dict) -> str:
    params = {**PARAMS, **conf}
    context = {"params": params, "dag_run": SimpleNamespace(conf=conf), "dag": SimpleNamespace(params=PARAMS)}
    monkeypatch.setattr(tasks, "get_current_context", lambda: context)
    return tasks.choose_action.function()


@pytest.mark.parametrize(("conf", "branch"), [({"version": "3"}, "evaluate_challenger"),
                                              ({"action": "rollback", "to_version": "2"}, "roll_back_by_hand")])
def test_each_action_takes_its_own_branch(monkeypatch, conf, branch):
    assert choose(monkeypatch, conf) == branch


@pytest.mark.parametrize(("conf", "said"), [
    ({"action": "rollback", "version": "3"}, "action=rollback with version: version is for action=deploy and would "
                                             "be ignored; trigger it again with the action that takes it"),
    ({"to_version": "2"}, "action=deploy with to_version: to_version is for action=rollback and would be ignored"),
])
def test_the_other_actions_version_fails_the_run_at_once(monkeypatch, conf, said):
    """``rollback`` with ``version`` once rolled back and ignored the version: the run must say so, not guess."""
    with pytest.raises(AirflowFailException, match=said):
        choose(monkeypatch, conf)
