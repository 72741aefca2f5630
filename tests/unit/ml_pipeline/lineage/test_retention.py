"""Snapshot retention on a real lake folder and a real MLflow registry (SQLite): what goes, what never goes."""

import datetime as dt
import json
import os
from pathlib import Path

import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline import cli
from ml_pipeline.cli import snapshots
from ml_pipeline.config import ConfigError, load_model_config
from ml_pipeline.data.lake import to_uri
from ml_pipeline.lineage.retention import (
    SNAPSHOT_TAG,
    TOMBSTONE,
    ModelRetention,
    collect,
    describe_tombstone,
    plan_gc,
    protected_snapshots,
    snapshot_tombstone,
)
from tests.conftest import REPO_ROOT

NOW = dt.datetime.now(dt.UTC)
GROUPS = tuple(dict.fromkeys((*cli.COMMAND_GROUPS, snapshots.register)))  # gc, whether or not cli lists it yet
FRAUD = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"


@pytest.fixture(scope="module")
def tracking_uri(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow')}/mlflow.db"


def make_run(lake: Path, pipeline: str, run: str, age_days: float, slices: tuple[str, ...] = ()) -> list[str]:
    """A run folder as training leaves it (snapshot or slices, features), its files ``age_days`` old."""
    folder = lake / "runs" / pipeline / run
    frame = pl.DataFrame({"amount": [1.0, 2.5, 3.0], "is_fraud": [0, 1, 0]})
    names = [f"region={s}/snapshot.parquet" for s in slices] or ["snapshot.parquet"]
    for name in [*names, "features.parquet", "validation/report.json"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".parquet"):
            frame.write_parquet(folder / name)
        else:
            (folder / name).write_text("{}")
        stamp = (NOW - dt.timedelta(days=age_days)).timestamp()
        os.utime(folder / name, (stamp, stamp))
    return [f"{to_uri(folder)}/{name}" for name in names]  # as training writes them (join_uri, no %-quoting)


def register(tracking_uri: str, model: str, snapshot_uri: str | None, alias: str | None = None) -> str:
    """A version of ``model`` trained on ``snapshot_uri`` (its lineage tag), given ``alias``."""
    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(model)
    run = client.create_run(experiment.experiment_id if experiment else client.create_experiment(model))
    if not client.search_registered_models(f"name = '{model}'"):
        client.create_registered_model(model)
    tags = {SNAPSHOT_TAG: snapshot_uri} if snapshot_uri else {}
    version = client.create_model_version(model, f"runs:/{run.info.run_id}/model", run_id=run.info.run_id, tags=tags)
    if alias:
        client.set_registered_model_alias(model, alias, version.version)
    return version.version


def rule(tracking_uri: str, model: str, keep_days: int = 30) -> ModelRetention:
    protected, blocked = protected_snapshots(MlflowClient(tracking_uri), model)
    return ModelRetention(model, keep_days, (f"ml_training_{model}", f"in_process_{model}"), protected, blocked)


def test_an_old_unprotected_run_is_deleted_and_leaves_a_tombstone_that_reproduce_can_name(tmp_path, tracking_uri):
    lake = tmp_path / "lake"
    [old] = make_run(lake, "ml_training_m_old", "scheduled__2026-01-01", age_days=45)
    [young] = make_run(lake, "ml_training_m_old", "scheduled__2026-11-30", age_days=2)
    [local] = make_run(lake, "in_process_m_old", "local__20260101T000000", age_days=31)
    register(tracking_uri, "m_old", old)  # registered here, but no version aliased: nothing protected
    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_old")])
    assert sorted(d.run_folder_uri for d in plan.doomed) == sorted(u.rsplit("/", 1)[0] for u in (old, local))
    assert [f.uri for f in plan.young] == [young.rsplit("/", 1)[0]] and plan.protected == []
    doomed = next(d for d in plan.doomed if d.run_folder_uri in old)
    assert 44.9 < doomed.age_days < 45.1 and doomed.bytes > 1000 and "older than 30 days" in doomed.reason

    collect(plan)
    folder = lake / "runs" / "ml_training_m_old" / "scheduled__2026-01-01"
    assert sorted(p.name for p in folder.iterdir()) == [TOMBSTONE]  # snapshot, features and reports are gone
    tombstone = snapshot_tombstone(old)
    assert tombstone["bytes"] == doomed.bytes and tombstone["reason"] == doomed.reason
    assert dt.datetime.fromisoformat(tombstone["deleted_at"]) >= NOW.replace(microsecond=0)
    assert f"deleted by retention on {tombstone['deleted_at']}" in describe_tombstone(tombstone)
    assert snapshot_tombstone(young) is None and (lake / "runs" / "ml_training_m_old" / "scheduled__2026-11-30"
                                                  / "snapshot.parquet").exists()
    again = plan_gc(to_uri(lake), [rule(tracking_uri, "m_old")])
    assert again.doomed == [] and len(again.young) == 1  # a deleted run is not listed again


def test_the_aliased_versions_snapshots_are_kept_whatever_their_age(tmp_path, tracking_uri):
    lake = tmp_path / "lake"
    [previous] = make_run(lake, "ml_training_m_alias", "scheduled__2025-01-01", age_days=700)
    [champion] = make_run(lake, "in_process_m_alias", "local__20250601T000000", age_days=500)
    [other] = make_run(lake, "ml_training_m_alias", "scheduled__2025-02-01", age_days=650)
    [challenger] = make_run(lake, "ml_training_m_alias", "scheduled__2025-07-01", age_days=400)
    register(tracking_uri, "m_alias", previous, alias="champion")
    register(tracking_uri, "m_alias", other)
    register(tracking_uri, "m_alias", champion, alias="champion")  # moves champion: the first keeps previous_champion
    MlflowClient(tracking_uri).set_registered_model_alias("m_alias", "previous_champion", "1")
    register(tracking_uri, "m_alias", challenger, alias="challenger")  # awaiting approval: promoted, monitored

    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_alias", keep_days=1)])
    assert {p.run_folder_uri: p.reason for p in plan.protected} == {
        previous.rsplit("/", 1)[0]: "previous_champion (version 1)",
        champion.rsplit("/", 1)[0]: "champion (version 3)",
        challenger.rsplit("/", 1)[0]: "challenger (version 4)"}
    assert [d.run_folder_uri for d in plan.doomed] == [other.rsplit("/", 1)[0]]
    collect(plan)
    for uri in (previous, champion, challenger):
        assert Path(uri.removeprefix("file://")).exists() and snapshot_tombstone(uri) is None
    assert snapshot_tombstone(other)["model"] == "m_alias"


def test_every_slice_of_a_partitioned_snapshot_is_protected_and_a_deleted_slice_names_its_tombstone(
        tmp_path, tracking_uri):
    lake = tmp_path / "lake"
    kept = make_run(lake, "ml_training_m_slices", "scheduled__2025-03-01", age_days=90, slices=("eu", "us"))
    gone = make_run(lake, "ml_training_m_slices", "scheduled__2025-03-02", age_days=89, slices=("eu", "us"))
    register(tracking_uri, "m_slices", ",".join(kept), alias="champion")

    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_slices")])
    assert [(p.run_folder_uri, p.reason) for p in plan.protected] == [(kept[0].rsplit("/", 2)[0],
                                                                       "champion (version 1)")]
    assert [d.run_folder_uri for d in plan.doomed] == [gone[0].rsplit("/", 2)[0]]
    collect(plan)
    assert all(Path(uri.removeprefix("file://")).exists() for uri in kept)
    assert snapshot_tombstone(",".join(gone))["snapshot_uri"] == gone[0]  # the run folder above the slice


def test_a_champion_without_a_recorded_snapshot_blocks_its_models_deletions(tmp_path, tracking_uri):
    """Which folder it was trained on cannot be told: deleting any old run might delete the champion's input."""
    lake = tmp_path / "lake"
    make_run(lake, "ml_training_m_blind", "scheduled__2025-01-01", age_days=400)
    register(tracking_uri, "m_blind", None, alias="champion")
    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_blind")])
    assert plan.doomed == [] and "records no lineage.data.snapshot_uri" in plan.protected[0].reason


def write_config(folder: Path, keep_days: int | None = None) -> Path:
    raw = yaml.safe_load(FRAUD.read_text())
    if keep_days is not None:
        raw["lineage"] = {"keep_snapshots_days": keep_days}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "fraud_detection.yaml").write_text(yaml.safe_dump(raw))
    return folder / "fraud_detection.yaml"


def test_keep_snapshots_days_defaults_to_30_and_is_at_least_one(tmp_path):
    assert load_model_config(FRAUD).lineage.keep_snapshots_days == 30
    assert load_model_config(write_config(tmp_path / "a", keep_days=7)).lineage.keep_snapshots_days == 7
    with pytest.raises(ConfigError, match=r"field 'lineage.keep_snapshots_days'.*greater than or equal to 1"):
        load_model_config(write_config(tmp_path / "b", keep_days=0))


def test_gc_dry_run_lists_what_would_go_and_deletes_nothing_then_gc_deletes(tmp_path, tracking_uri, capsys):
    lake, configs = tmp_path / "lake", tmp_path / "configs"
    write_config(configs, keep_days=10)
    [old] = make_run(lake, "ml_training_fraud_detection", "scheduled__2026-10-01", age_days=60)
    [champion] = make_run(lake, "ml_training_fraud_detection", "scheduled__2026-09-01", age_days=90)
    make_run(lake, "ml_training_fraud_detection", "scheduled__2026-11-29", age_days=3)
    register(tracking_uri, "fraud_detection", champion, alias="champion")
    argv = ["gc", "--config-dir", str(configs), "--lake", str(lake), "--tracking-uri", tracking_uri]

    assert cli.main([*argv, "--dry-run"], groups=GROUPS) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "scheduled__2026-10-01" in line)
    assert out.startswith("would delete (dry run):") and "fraud_detection" in line and " kB" in line
    assert "60.0 d" in line and "older than 10 days" in line
    assert "total: 1 run folder(s)" in out
    assert "protected (kept whatever their age):" in out and "scheduled__2026-09-01" in out
    assert "champion (version 1)" in out and "kept: 1 run folder(s) younger" in out
    assert Path(old.removeprefix("file://")).exists() and snapshot_tombstone(old) is None  # nothing deleted

    assert cli.main(argv, groups=GROUPS) == 0
    assert "deleted 1 run folder(s)" in capsys.readouterr().out
    assert json.loads((lake / "runs" / "ml_training_fraud_detection" / "scheduled__2026-10-01" / TOMBSTONE)
                      .read_text())["deleted_by"] == "ml-pipeline gc"
    assert Path(champion.removeprefix("file://")).exists()


def test_gc_refuses_an_unknown_model_naming_the_known_ones(tmp_path, tracking_uri, capsys):
    write_config(tmp_path / "configs")
    argv = ["gc", "--dry-run", "--model", "fraud", "--config-dir", str(tmp_path / "configs"),
            "--lake", str(tmp_path / "lake"), "--tracking-uri", tracking_uri]
    assert cli.main(argv, groups=GROUPS) == 2
    err = capsys.readouterr().err
    assert "no model 'fraud'" in err and "(models: fraud_detection)" in err


def test_the_mirrored_training_prefix_is_the_training_dag_kinds():
    from ml_pipeline_airflow.dag_kinds.training import TRAINING

    assert TRAINING.dag_id("fraud_detection") == f"{snapshots.TRAINING_DAG_PREFIX}fraud_detection"


def test_nothing_is_deleted_when_the_registry_does_not_know_the_model_or_a_protected_snapshot_is_elsewhere(
        tmp_path, tracking_uri):
    lake = tmp_path / "lake"
    make_run(lake, "in_process_m_elsewhere", "local__20250101T000000", age_days=300)
    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_elsewhere")])  # trained against another MLflow
    assert plan.doomed == [] and "m_elsewhere is not registered in" in plan.protected[0].reason

    make_run(lake, "ml_training_m_moved", "scheduled__2025-01-01", age_days=300)
    register(tracking_uri, "m_moved", "file:///another/lake/runs/ml_training_m_moved/x/snapshot.parquet", "champion")
    plan = plan_gc(to_uri(lake), [rule(tracking_uri, "m_moved")])
    assert plan.doomed == [] and "not among this lake's run folders" in plan.protected[0].reason
