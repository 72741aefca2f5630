"""``ml-pipeline lineage`` over a file of OpenLineage events and over the platform's real PostgreSQL database."""

import json
import uuid

import psycopg2
import pytest

from ml_platform.pipeline_cli import main
from tests.support import lineage_events as ev

SERVER = "postgresql://postgres@127.0.0.1:5432"
EVENTS = ev.history()


@pytest.fixture(autouse=True)
def platform_home(tmp_path, monkeypatch):
    monkeypatch.setenv("ML_PLATFORM_HOME", str(tmp_path / "platform"))
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://nobody@127.0.0.1:1")  # no platform running
    return tmp_path / "platform"


@pytest.fixture
def events_file(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text("".join(json.dumps(event) + "\n" for event in EVENTS))
    return path


def run(capsys, *argv):
    code = main(["lineage", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_version_from_the_file_reads_left_to_right_with_its_deployments(events_file, capsys):
    code, out, err = run(capsys, "fraud_detection", "1", "--events", str(events_file))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "fraud_detection v1  (mlflow://127.0.0.1:5000/models/fraud_detection/1)"
    assert lines[1] == ("  2 partitions → 1 snapshot → 1 feature table → 1 MLflow run → fraud_detection v1 → "
                        "2 deployments, serving on fraud-detection-api → 2 monitoring checks")
    assert "    s3://ml-data/raw/transactions/date=2026-11-18  (fingerprint fp-1, 1000 rows)" in lines
    assert "    s3://ml-data/runs/fraud_detection/manual__v1/snapshot.parquet  (version sha-1, 3000 rows, 2 columns)" \
        in lines
    assert ("    2026-11-20 06:00 UTC  ml_training_fraud_detection.load_data  COMPLETE  (commit abc123, config cfg1, "
            "trigger schedule, dag run manual__v1)") in lines
    assert "    fraud-detection-api  v1  promoted  2026-11-20 07:00 UTC → 2026-11-21 07:00 UTC" in lines
    assert "    fraud-detection-api  v1  rolled_back  2026-11-21 08:00 UTC → now (serving)" in lines
    assert out.index("partitions") < out.index("snapshots") < out.index("features") < out.index("MLflow runs")


def test_json_is_the_query_result(events_file, capsys):
    code, out, _ = run(capsys, "fraud_detection", "2", "--events", str(events_file), "--json")
    assert code == 0
    found = json.loads(out)
    assert found["dataset"] == "mlflow://127.0.0.1:5000/models/fraud_detection/2"
    assert [(d["action"], d["from"], d["to"]) for d in found["deployments"]] == [
        ("promoted", "2026-11-21T07:00:00+00:00", "2026-11-21T08:00:00+00:00")]
    assert [p["version"] for p in found["upstream"]["partition"]] == ["fp-2", "fp-2"]


def test_a_version_without_lineage_exits_1_naming_the_likely_reasons(events_file, capsys):
    code, out, err = run(capsys, "fraud_detection", "7", "--events", str(events_file))
    assert (code, out) == (1, "")
    assert err.strip() == ("error: no lineage recorded for fraud_detection v7: was it trained before lineage was "
                           "enabled, or in-process with `run-training`?")
    code, _, err = run(capsys, "fraud_detection", "1", "--events", str(events_file),
                       "--tracking-uri", "http://other:5000")
    assert code == 1 and "no lineage recorded for fraud_detection v1" in err


def test_a_partition_lists_what_it_reached_and_what_still_serves_it(events_file, capsys):
    code, out, err = run(capsys, "--partition", "s3://ml-data/raw/transactions/date=2026-11-19/", "--events",
                         str(events_file))
    assert code == 0, err
    assert "  model versions\n    mlflow://127.0.0.1:5000/models/fraud_detection/1" in out
    assert "mlflow://127.0.0.1:5000/models/fraud_detection/2" in out
    assert "(version fp-1)" in out and "(version fp-2)" in out
    assert "still serving data from this partition: fraud-detection-api (fraud_detection v1)" in out
    code, out, _ = run(capsys, "--partition", "s3://ml-data/raw/transactions/date=2026-11-20", "--events",
                       str(events_file), "--json")
    found = json.loads(out)
    assert [v["name"] for v in found["reached"]["model_version"]] == ["models/fraud_detection/2"]
    assert found["serving"] == []
    code, _, err = run(capsys, "--partition", "/lake/nothing", "--events", str(events_file))
    assert code == 1 and "no lineage recorded for partition file:/lake/nothing" in err


def test_usage_errors_and_a_missing_file_say_what_to_give(tmp_path, capsys):
    assert run(capsys)[0] == 2
    code, _, err = run(capsys, "fraud_detection")
    assert code == 2 and "which version of fraud_detection?" in err
    assert run(capsys, "fraud_detection", "1", "--partition", "/x")[0] == 2
    code, _, err = run(capsys, "fraud_detection", "1", "--events", str(tmp_path / "none.jsonl"))
    assert code == 1 and "no events file" in err and "lineage/events.jsonl" in err


def test_without_a_running_platform_the_error_names_the_file_transport(platform_home, capsys):
    code, _, err = run(capsys, "fraud_detection", "1")
    assert code == 1
    assert "cannot read lineage events from the platform database" in err and "`make status`" in err
    assert "--events FILE" in err
    transport = platform_home / "lineage" / "events.jsonl"
    transport.parent.mkdir(parents=True)
    transport.write_text("")
    code, _, err = run(capsys, "fraud_detection", "1")
    assert f"--events {transport}" in err


@pytest.fixture
def platform_database(monkeypatch):
    """A fresh ``<prefix>ml_platform`` database on the machine's PostgreSQL, with the platform's schema."""
    from ml_pipeline.stores.schema import create_schema

    prefix = f"t{uuid.uuid4().hex[:8]}_"
    admin = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{prefix}ml_platform"')
    url = f"postgresql+psycopg2://postgres@127.0.0.1:5432/{prefix}ml_platform"
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", SERVER)
    monkeypatch.setenv("ML_PLATFORM_DATABASE_PREFIX", prefix)
    try:
        create_schema(url)
        yield url
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{prefix}ml_platform" WITH (FORCE)')
        admin.close()


def without_times(item):
    run = {k: v for k, v in item.get("run", item).items() if k not in ("started", "ended", "state")}
    return {**item, "run": run} if "run" in item else run


def test_the_platform_database_gives_the_same_lineage_as_the_file(platform_database, events_file, capsys):
    from ml_pipeline.lineage.store import LineageStore

    store = LineageStore(platform_database)
    for event in [*EVENTS, *EVENTS[:6]]:  # a re-sent event is stored once
        store.add(event)
    code, out, err = run(capsys, "fraud_detection", "1", "--json")
    assert code == 0, err
    from_db = json.loads(out)
    from_file = json.loads(run(capsys, "fraud_detection", "1", "--json", "--events", str(events_file))[1])
    assert (from_db["dataset"], from_db["upstream"]) == (from_file["dataset"], from_file["upstream"])
    for part in ("runs", "deployments", "monitoring"):
        assert [without_times(item) for item in from_db[part]] == [without_times(item) for item in from_file[part]]
    assert {r["state"] for r in from_db["runs"]} == {"COMPLETE"}  # the runs' terminal events are kept too
    code, out, _ = run(capsys, "--partition", "s3://ml-data/raw/transactions/date=2026-11-18")
    assert code == 0 and "models/fraud_detection/2" not in out and "models/fraud_detection/1" in out
