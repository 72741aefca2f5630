"""The cheap cases of the chaos suite on every ``make test`` (``make chaos`` runs them all, with the figures).

The chaos model (``tests/support/chaos.py``) is dropped into the end-to-end suites' embedded platform (``conftest.py``;
one start fewer on two cores) and removed afterwards: it trains once and its version becomes the champion; then its
model server is killed under load, a corrupt file lands mid-run, and MLflow is killed while a challenger is deployed.
Each case's goals are those of ``make chaos`` (``benchmarks/chaos``, on a platform of its own), judged by the same
code.
"""

import pytest

from benchmarks.chaos import cases, runs
from tests.support.chaos import chaos_model_on

pytestmark = [pytest.mark.e2e, pytest.mark.executor_independent]
OUTAGE_S = 20  # make chaos keeps MLflow down 60 s


@pytest.fixture(scope="module")
def chaos(platform):
    """The shared platform with the chaos model, its champion served."""
    layout, env, _ = platform
    with chaos_model_on(layout, env) as p:
        run_id, state = cases.train(p, "2026-11-20T06:00:00Z")
        assert state == "success", run_id
        [champion] = cases.versions_of_run(p, run_id)
        cases.make_champion(p, champion)
        yield p, champion


def judged(case: cases.Case) -> cases.Case:
    assert case.met, {"goals": case.goals, "figures": case.figures}
    return case


def test_a_killed_model_server_is_restarted_and_answers_again(chaos):
    p, _ = chaos
    case = judged(cases.model_server_killed(p))
    assert case.figures["requests"] > case.figures["failed_requests"] > 0  # the fault did hit the traffic


def test_a_corrupt_file_landing_mid_run_fails_that_run_fast_and_no_other(chaos):
    p, _ = chaos
    judged(runs.bad_data(p, "2026-11-20T08:00:00Z", "corrupt_file"))


def test_mlflow_killed_during_a_deployment_keeps_serving_and_the_champion(chaos):
    p, champion = chaos
    challenger = cases.register_copy(p, champion)
    case = judged(cases.mlflow_outage_during_deployment(p, challenger, champion, OUTAGE_S))
    assert case.figures["mlflow_kills"] >= 1 and case.figures["requests"] > 100
