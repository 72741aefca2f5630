"""``ml-pipeline reproduce`` against a real MLflow server: rebuilt identical after the config and the lake changed,
refused when its inputs are gone or changed or the code differs, registered as a reproduction when asked."""

import datetime as dt
import json
import shutil

import pytest
from mlflow import MlflowClient

from ml_pipeline import cli
from ml_pipeline.config import config_dir
from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.data.lake import hash_frame, join_uri, read_parquet, write_parquet
from ml_pipeline.lineage import record as lineage_record
from tests.support.dashboard import free_port
from tests.support.services import mlflow_server

pytestmark = pytest.mark.integration
DAY = dt.date(2026, 11, 20)
MODEL = "fraud_detection"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Three versions trained in-process by ``run-training`` from a config copy that is edited afterwards."""
    home = tmp_path_factory.mktemp("reproduce")
    lake = home / "lake"
    config = home / "configs" / f"{MODEL}.yaml"
    config.parent.mkdir()
    shutil.copy(config_dir() / f"{MODEL}.yaml", config)
    shutil.copy(config_dir().parent / "data_validation_rules.yaml", config.parent.parent / "data_validation_rules.yaml")
    assert cli.main(["generate-data", "--lake", str(lake), "--end-date", DAY.isoformat(), "--days", "7",
                     "--rows-per-day", "3000"]) == 0
    with mlflow_server(home / "mlflow", free_port()) as url:
        for run_id in ("r1", "r2", "r3"):
            assert cli.main(["run-training", str(config), "--lake", str(lake), "--date", DAY.isoformat(),
                             "--tracking-uri", url, "--run-id", run_id]) == 0
        yield url, lake, config


def reproduce(url: str, version: str, *extra: str) -> int:
    return cli.main(["reproduce", MODEL, version, "--tracking-uri", url, *extra])


def test_a_version_is_rebuilt_identically_after_its_config_and_the_lake_changed(trained, capsys):
    url, lake, config = trained
    capsys.readouterr()
    config.write_text(config.read_text().replace("max_depth: 6", "max_depth: 3"))
    day = generate_day(DAY, 3000, seed=7)  # the newest partition rewritten with other rows
    shutil.rmtree(lake / "transactions" / DAY.isoformat())
    write_day(day, join_uri(lake.as_uri(), "transactions"), DAY)
    assert reproduce(url, "1", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["identical"] is True and result["max_abs_difference"] == 0.0
    assert result["original_metrics"] == result["rebuilt_metrics"]
    assert result["features_source"] == "recomputed from the snapshot" and result["software_differences"] == []
    assert reproduce(url, "1") == 0
    out = capsys.readouterr().out
    assert "max |prediction difference| = 0" in out and out.rstrip().endswith("IDENTICAL")


def test_a_deleted_snapshot_is_refused_naming_it(trained, capsys):
    url, lake, _ = trained
    snapshot = lake / "runs" / "in_process_fraud_detection" / "r2" / "snapshot.parquet"
    snapshot.unlink()
    assert reproduce(url, "2") == 2
    err = capsys.readouterr().err
    assert f"its snapshot {snapshot.as_uri()} is gone: it no longer exists" in err


def test_a_changed_snapshot_is_refused(trained, capsys):
    url, lake, _ = trained
    snapshot = (lake / "runs" / "in_process_fraud_detection" / "r3" / "snapshot.parquet").as_uri()
    original = read_parquet(snapshot)
    write_parquet(original.head(original.height - 1), snapshot)
    try:
        assert reproduce(url, "3") == 2
        assert "no longer holds the rows it was trained on" in capsys.readouterr().err
    finally:
        write_parquet(original, snapshot)
    assert hash_frame(read_parquet(snapshot)) == hash_frame(original)


def test_a_damaged_snapshot_is_refused_saying_to_restore_it(trained, capsys):
    url, lake, _ = trained
    snapshot = lake / "runs" / "in_process_fraud_detection" / "r3" / "snapshot.parquet"
    original = snapshot.read_bytes()
    snapshot.write_bytes(original[: len(original) // 2])  # cut short: a disk or a copy gone wrong
    try:
        assert reproduce(url, "3") == 2  # refused, not "the models differ" (1)
        err = capsys.readouterr().err
        assert f"its snapshot {snapshot.as_uri()} cannot be read (" in err and "restore it from a backup" in err
    finally:
        snapshot.write_bytes(original)


def test_other_code_is_refused_unless_allowed_and_every_difference_is_listed(trained, capsys, monkeypatch):
    url, *_ = trained
    real = lineage_record.current_code()
    monkeypatch.setattr(lineage_record, "current_code", lambda: {**real, "git_commit": "f" * 40})
    assert reproduce(url, "3") == 2
    err = capsys.readouterr().err
    assert f"code git_commit: {real['git_commit']} (trained) != {'f' * 40} (installed)" in err
    assert "--allow-code-drift" in err
    assert reproduce(url, "3", "--allow-code-drift", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    assert result["identical"] and result["software_differences"] == [
        f"code git_commit: {real['git_commit']} (trained) != {'f' * 40} (installed)"]


def test_a_config_that_reads_differently_with_this_code_is_a_difference_allow_code_drift_accepts(trained, capsys,
                                                                                                 monkeypatch):
    """A field added to the config schema with a default changes every stored config's effective hash."""
    from ml_pipeline.config import ModelConfig

    url, *_ = trained
    monkeypatch.setattr(ModelConfig, "content_hash", lambda self: "0" * 64)
    assert reproduce(url, "3") == 2  # (v2's snapshot is deleted by a test above)
    err = capsys.readouterr().err
    assert "config: the one stored with the run reads differently with this code (effective hash " in err
    assert f"{'0' * 64} here)" in err and "--allow-code-drift" in err
    assert reproduce(url, "3", "--allow-code-drift", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    [difference] = result["software_differences"]
    assert result["identical"] and difference.startswith("config: the one stored with the run reads differently")


def test_a_registration_that_fails_keeps_the_comparison_and_exits_3(trained, capsys, monkeypatch):
    from ml_pipeline.pipelines import reproduce as reproducing

    def fails(*_args):
        raise ConnectionError("MLflow went away")

    url, *_ = trained
    monkeypatch.setattr(reproducing, "_register", fails)
    assert reproduce(url, "1", "--register", "--json") == 3
    result = json.loads(capsys.readouterr().out)
    assert result["identical"] and result["registered_version"] is None
    assert "not registered: ConnectionError: MLflow went away: run again with --register" in result["notes"]


def test_register_records_an_identical_rebuild_as_a_reproduction(trained, capsys):
    url, *_ = trained
    client = MlflowClient(url)
    assert reproduce(url, "1", "--register", "--json") == 0
    result = json.loads(capsys.readouterr().out)
    rebuilt = client.get_model_version(MODEL, result["registered_version"])
    assert rebuilt.tags["reproduction.of_version"] == "1" and rebuilt.aliases == []
    assert rebuilt.tags["lineage.data.hash"] == client.get_model_version(MODEL, "1").tags["lineage.data.hash"]
    assert reproduce(url, "999") == 2
    assert f"{MODEL} has no version 999" in capsys.readouterr().err
