"""The promotion history: append-only, one record per action and run, readable as a table."""

import pytest

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory, describe
from ml_pipeline.stores.sql import SchemaMissingError


@pytest.fixture
def url(tmp_path):
    url = f"sqlite:///{tmp_path}/history.db"
    DeploymentHistory(url).create_schema()
    return url


def test_events_are_kept_in_order_once_per_action_and_run(url):
    history = DeploymentHistory(url)
    history.record(DeploymentEvent("fraud", "promoted", None, "1", "first model", "dep", "run-1"))
    history.record(DeploymentEvent("fraud", "promoted", "1", "2", "beats champion auc 0.9000", "dep", "run-2"))
    again = history.record(DeploymentEvent("fraud", "promoted", "1", "2", "retried task", "dep", "run-2"))
    history.record(DeploymentEvent("fraud", "rolled_back", "2", "1", "verify failed", "dep", "run-2",
                                   {"failure": "v2 serves v1"}))
    history.record(DeploymentEvent("other", "promoted", None, "7", "first model", "dep-o", "run-9"))
    events = DeploymentHistory(url).events("fraud")
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("promoted", None, "1"), ("promoted", "1", "2"), ("rolled_back", "2", "1")]
    assert again.reason == "beats champion auc 0.9000"  # a retry of the same action returns the first record
    assert events[-1].details == {"failure": "v2 serves v1"} and events[-1].created_at is not None
    assert history.champion_before("fraud", "2") == "1"
    assert history.champion_before("fraud", "1") == "2"  # v1 came back by the rollback from v2
    table = describe(events)
    assert "rolled_back" in table and "2 → 1" in table and "verify failed" in table
    assert describe([]) == "no deployments recorded"


def test_events_without_a_run_are_each_recorded_and_the_newest_come_with_a_limit(url):
    history = DeploymentHistory(url)
    first = history.record(DeploymentEvent("fraud", "rolled_back", "2", "1", "by hand"))
    second = history.record(DeploymentEvent("fraud", "rolled_back", "2", "1", "by hand"))
    assert first.id != second.id and first.created_at is not None
    assert [e.id for e in history.events("fraud", limit=1)] == [second.id]


def test_a_database_without_the_table_says_how_to_create_it(tmp_path):
    with pytest.raises(SchemaMissingError, match=r"'deployment_events' does not exist .*`ml-platform up`"):
        DeploymentHistory(f"sqlite:///{tmp_path}/empty.db").events("fraud")
