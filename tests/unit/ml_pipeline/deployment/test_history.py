"""The promotion history: append-only, one record per action and run, readable as a table."""

from ml_pipeline.deployment.history import DeploymentEvent, DeploymentHistory, describe


def test_events_are_kept_in_order_once_per_action_and_run(tmp_path):
    history = DeploymentHistory(f"sqlite:///{tmp_path}/history.db")
    history.record(DeploymentEvent("fraud", "promoted", None, "1", "first model", "dep", "run-1"))
    history.record(DeploymentEvent("fraud", "promoted", "1", "2", "beats champion auc 0.9000", "dep", "run-2"))
    again = history.record(DeploymentEvent("fraud", "promoted", "1", "2", "retried task", "dep", "run-2"))
    history.record(DeploymentEvent("fraud", "rolled_back", "2", "1", "verify failed", "dep", "run-2",
                                   {"failure": "v2 serves v1"}))
    history.record(DeploymentEvent("other", "promoted", None, "7", "first model", "dep-o", "run-9"))
    events = DeploymentHistory(f"sqlite:///{tmp_path}/history.db").events("fraud")
    assert [(e.action, e.from_version, e.to_version) for e in events] == [
        ("promoted", None, "1"), ("promoted", "1", "2"), ("rolled_back", "2", "1")]
    assert again.reason == "beats champion auc 0.9000"  # a retry of the same action returns the first record
    assert events[-1].details == {"failure": "v2 serves v1"} and events[-1].created_at is not None
    assert history.champion_before("fraud", "2") == "1"
    assert history.champion_before("fraud", "1") == "2"  # v1 came back by the rollback from v2
    table = describe(events)
    assert "rolled_back" in table and "2 → 1" in table and "verify failed" in table
    assert describe([]) == "no deployments recorded"
