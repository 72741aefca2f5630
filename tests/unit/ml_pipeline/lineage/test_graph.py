"""The lineage graph and its queries on synthetic OpenLineage events: two trainings sharing a partition, a
promotion, a rollback, monitoring checks."""

import datetime as dt

import pytest

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.graph import LineageGraph
from ml_pipeline.lineage.queries import LineageNotFound, partition_reach, version_lineage
from tests.support import lineage_events as ev

HOUR = dt.timedelta(hours=1)
V1 = naming.model_version_dataset(ev.TRACKING_URI, "fraud_detection", 1).key


def test_repeated_events_of_one_run_make_one_run_with_the_union_of_their_datasets():
    events = ev.training("fraud_detection", 1, ["2026-11-18"], ev.T0)
    load = events[:3]
    resent = [*events, load[1], load[1]]  # the file transport and the receiver both replayed RUNNING
    graph = LineageGraph.from_events(resent)
    assert len(graph.runs) == 5
    run = graph.runs[load[0]["run"]["runId"]]
    assert (run.job, run.state) == ("ml_training_fraud_detection.load_data", "COMPLETE")
    assert run.started == ev.T0 and run.ended == ev.T0 + dt.timedelta(seconds=2)
    assert run.facets["git_commit"] == "abc123" and "_producer" not in run.facets
    assert [s.kind for s in run.inputs.values()] == ["partition"]
    assert [len(graph.producers[key]) for key in run.outputs] == [1]


def test_a_run_seen_complete_then_running_stays_complete_and_facets_merge():
    start, running, complete = ev.task_run("d.t", [ev.partition("2026-11-18")], [], ev.T0)
    bare = {**running, "inputs": [{"namespace": ev.LAKE, "name": "raw/transactions/date=2026-11-18"}]}
    graph = LineageGraph.from_events([complete, bare, running, start])
    (run,) = graph.runs.values()
    assert run.state == "COMPLETE"
    (state,) = run.inputs.values()
    assert (state.kind, state.version, state.rows) == ("partition", "fp-1", 1000)


def test_statistics_are_read_from_input_facets_or_from_facets():
    ref = naming.uri_dataset("/lake/p", naming.PARTITION)
    item = ev.dataset(ref, "input")
    item["facets"]["inputStatistics"] = {"rowCount": 7}
    (run,) = LineageGraph.from_events([{**ev.task_run("d.t", [], [], ev.T0)[1], "inputs": [item]}]).runs.values()
    assert run.inputs["file:/lake/p"].rows == 7


def test_upstream_and_downstream_walk_with_depth():
    graph = LineageGraph.from_events(ev.history())
    up = graph.upstream(V1)
    assert [s.kind for s in up.of_kind("mlflow_run", "snapshot", "features", "partition")] == [
        "mlflow_run", "snapshot", "features", "partition", "partition"]
    assert [d for s, d in up.datasets if s.kind == "partition"] == [3, 3]
    assert [s.kind for s, _ in graph.upstream(V1, depth=1).datasets] == ["mlflow_run"]
    partition = ev.partition("2026-11-19").key
    assert {s.kind for s in graph.downstream(partition, depth=1).of_kind("snapshot")} == {"snapshot"}
    assert len(graph.downstream(partition, depth=1).datasets) == 2  # both trainings read it


def test_version_lineage_goes_from_partitions_to_the_mlflow_run_with_the_versions_read():
    lineage = version_lineage(ev.history(), None, "fraud_detection", 1)
    assert list(lineage.upstream) == ["partition", "validation_report", "snapshot", "features", "mlflow_run"]
    partitions = lineage.upstream["partition"]
    assert [(p.name, p.version) for p in partitions] == [
        ("raw/transactions/date=2026-11-18", "fp-1"), ("raw/transactions/date=2026-11-19", "fp-1")]
    (snapshot,) = lineage.upstream["snapshot"]
    assert snapshot.version == "sha-1" and snapshot.rows == 3000 and snapshot.fields[0] == ("amount", "double")
    reports = [r.name for r in lineage.upstream["validation_report"]]
    assert reports == ["runs/fraud_detection/manual__v1/validation.json"]
    assert lineage.upstream["mlflow_run"][0].name == "runs/run1"
    assert [r["job"].split(".")[1] for r in lineage.runs] == [
        "load_data", "validate_data", "engineer_features", "train_model", "register_model"]
    assert lineage.key == V1 and lineage.to_dict()["upstream"]["snapshot"][0]["version"] == "sha-1"


def test_deployments_run_from_their_start_to_the_next_version_served_after_a_rollback():
    v1 = version_lineage(ev.history(), ev.TRACKING, "fraud_detection", "1")
    assert [(d.action, d.start, d.end) for d in v1.deployments] == [
        ("promoted", ev.T0 + HOUR, ev.T0 + 25 * HOUR), ("rolled_back", ev.T0 + 26 * HOUR, None)]
    assert v1.deployments[0].endpoint == "fraud-detection-api"
    v2 = version_lineage(ev.history(), None, "fraud_detection", 2)
    assert [(d.action, d.start, d.end) for d in v2.deployments] == [("promoted", ev.T0 + 25 * HOUR, ev.T0 + 26 * HOUR)]
    assert v2.to_dict()["deployments"][0]["to"] == (ev.T0 + 26 * HOUR).isoformat()
    assert len(v1.checks) == 2 and v2.checks == []
    assert v1.checks[0].report.properties == {"status": "stable"}


def test_the_upstream_of_a_version_holds_no_later_runs_of_shared_datasets():
    lineage = version_lineage(ev.history(), None, "fraud_detection", 1)
    assert all(r["started"] < (ev.T0 + HOUR).isoformat() for r in lineage.runs)


def test_a_version_without_events_names_the_likely_reasons():
    with pytest.raises(LineageNotFound, match=r"no lineage recorded for fraud_detection v7: was it trained before"):
        version_lineage(ev.history(), None, "fraud_detection", 7)
    with pytest.raises(LineageNotFound):
        version_lineage(ev.history(), "mlflow://elsewhere:5000", "fraud_detection", 1)


def test_a_version_registered_on_two_tracking_servers_must_be_chosen():
    other = [e for e in ev.history() if "register" in e["job"]["name"]]
    moved = [{**e, "run": {**e["run"], "runId": e["run"]["runId"] + "x"},
              "outputs": [{**o, "namespace": "mlflow://other:5000"} for o in e["outputs"]]} for e in other]
    with pytest.raises(ValueError, match="several tracking servers"):
        version_lineage([*ev.history(), *moved], None, "fraud_detection", 1)


def test_a_partition_shared_by_two_trainings_reaches_both_versions_and_the_endpoint_still_serving():
    reach = partition_reach(ev.history(), f"{ev.LAKE}/raw/transactions/date=2026-11-19")
    assert reach.partitions == ["s3://ml-data/raw/transactions/date=2026-11-19"]
    assert [r["version"] for r in reach.reads] == ["fp-1", "fp-2"]  # rewritten between the two trainings
    assert [s.name for s in reach.reached["model_version"]] == ["models/fraud_detection/1", "models/fraud_detection/2"]
    assert len(reach.reached["snapshot"]) == 2 and "monitoring_report" in reach.reached
    assert [(d.version, d.action, d.end is None) for d in reach.deployments] == [
        ("1", "promoted", False), ("2", "promoted", False), ("1", "rolled_back", True)]
    assert [d.version for d in reach.serving] == ["1"]
    only_v2 = partition_reach(ev.history(), f"{ev.LAKE}/raw/transactions/date=2026-11-20/part-0.parquet")
    assert [s.name for s in only_v2.reached["model_version"]] == ["models/fraud_detection/2"]
    assert only_v2.serving == []


def test_a_folder_above_partitions_stands_for_all_of_them_and_an_unknown_one_lists_known_ones():
    reach = partition_reach(ev.history(), f"{ev.LAKE}/raw/transactions/")
    assert len(reach.partitions) == 3 and reach.to_dict()["serving"][0]["version"] == "1"
    with pytest.raises(LineageNotFound, match=r"partition file:/lake/x; partitions with lineage: s3://ml-data/raw"):
        partition_reach(ev.history(), "/lake/x")


def test_a_feature_view_is_listed_but_not_walked_through():
    """A Feast view holds every day ever computed: an old partition that fed it does not reach later trainings, and
    a version's upstream holds the partitions of its own window, not every day the view was computed from."""
    view = naming.feature_view_dataset("ml_platform", "fraud_detection__card_windows")
    old = ev.partition("2025-01-01")
    feeds = ev.task_run("feature_engineering_fraud_detection.write_to_feature_store", [old], [view],
                        ev.T0 - 400 * 24 * HOUR)
    events = [*feeds, *ev.training("fraud_detection", 1, ["2026-11-19"], ev.T0)]
    engineer = next(e for e in events if e["job"]["name"].endswith("engineer_features") and e["inputs"])
    engineer["inputs"].append(ev.dataset(view, "input"))
    reach = partition_reach(events, old.namespace + "/" + old.name)
    assert [s.name for s in reach.reached["feature_view"]] == [view.name]
    assert "model_version" not in reach.reached and reach.deployments == []
    lineage = version_lineage(events, None, "fraud_detection", 1)
    assert [s.name for s in lineage.upstream["partition"]] == [ev.partition("2026-11-19").name]
    assert [s.name for s in lineage.upstream["feature_view"]] == [view.name]


def test_validation_reports_of_a_version_are_its_own_runs_not_a_later_check_of_a_rewritten_partition():
    day = ev.partition("2026-11-19", "fp-1")
    events = ev.training("fraud_detection", 1, ["2026-11-19"], ev.T0)
    later = naming.uri_dataset(f"{ev.LAKE}/raw/transactions/date=2026-11-19/_validation/later.md",
                               naming.VALIDATION_REPORT)
    events += ev.task_run("data_validation_fraud_detection.validate_partition", [ev.partition("2026-11-19", "fp-9")],
                          [later], ev.T0 + HOUR, dag_run="scheduled__later")
    same = naming.uri_dataset(f"{ev.LAKE}/raw/transactions/date=2026-11-19/_validation/same.md",
                              naming.VALIDATION_REPORT)
    events += ev.task_run("data_validation_fraud_detection.validate_partition", [day], [same], ev.T0 - HOUR,
                          dag_run="scheduled__before")
    reports = {s.name for s in version_lineage(events, None, "fraud_detection", 1).upstream["validation_report"]}
    assert same.name in reports and later.name not in reports  # the check of the rows trained on, not of others
    assert any(name.endswith("validation.json") for name in reports)  # the training run's own validate_data
