import subprocess

from ml_pipeline.lineage import code_version, lineage_tags
from ml_pipeline.lineage.record import TrainingRecord, software_differences
from tests.conftest import REPO_ROOT


def test_code_version_is_the_checkout_commit():
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True)
    assert code_version()["git_commit"] == head.stdout.strip()
    assert code_version()["git_dirty"] in {"true", "false"}


def test_not_a_checkout_is_reported_as_unknown(tmp_path):
    assert code_version(tmp_path) == {"git_commit": "unknown", "git_dirty": "unknown"}


def tags_of(model_type: str) -> dict[str, str]:
    return lineage_tags(partitions=["file:///l/t/2026-11-20"], data_hash="abc", snapshot_uri="file:///s",
                        config_hash="cfg", config_path="c.yaml", dag_id="d", run_id="r", model_type=model_type)


def test_lineage_tags_name_data_code_config_and_versions():
    tags = tags_of("xgboost")
    assert tags["lineage.data.hash"] == "abc"
    assert tags["lineage.data.partitions"] == "file:///l/t/2026-11-20"
    assert tags["lineage.config.hash"] == "cfg"
    assert {"lineage.code.git_commit", "lineage.version.mlflow", "lineage.version.apache-airflow-core",
            "lineage.version.python"} <= set(tags)


def test_lineage_records_the_model_type_and_its_library_only():
    import lightgbm
    import xgboost

    xgb, lgb = tags_of("xgboost"), tags_of("lightgbm")
    assert xgb["lineage.model_type"] == "xgboost" and xgb["lineage.version.xgboost-cpu"] == xgboost.__version__
    assert not any("lightgbm" in key for key in xgb)
    assert lgb["lineage.model_type"] == "lightgbm" and lgb["lineage.version.lightgbm"] == lightgbm.__version__
    assert not any("xgboost" in key for key in lgb)


def record(**changes) -> TrainingRecord:
    fields = dict(model="m", model_type="xgboost", config_path="c.yaml", config_hash="h", snapshot_uri="file:///s",
                  data_hash="d", rows=10, partitions=["p"], features_uri="file:///f", features_sha256="f",
                  train_sha256="t", holdout_sha256="o", train_rows=8, holdout_rows=2, hyperparameters={}, seed=1,
                  threads=2, device="cpu", features_from_store=False, dag_id="d", run_id="r", trigger="manual",
                  logical_date="2026-11-20", code={"git_commit": "a" * 40, "git_dirty": "false", "git_diff_sha256": ""},
                  packages={"python": "3.11.9", "xgboost-cpu": "3.0.0"})
    return TrainingRecord(**{**fields, **changes})


def test_software_differences_list_the_commit_the_dirt_and_every_library():
    trained = record()
    same = software_differences(trained, dict(trained.code), dict(trained.packages))
    assert same == []
    changed = software_differences(trained, {**trained.code, "git_commit": "b" * 40},
                                   {"python": "3.11.9", "xgboost-cpu": "3.1.0", "polars": "1.30"})
    assert changed == [f"code git_commit: {'a' * 40} (trained) != {'b' * 40} (installed)",
                       "polars: absent (trained) != 1.30 (installed)",
                       "xgboost-cpu: 3.0.0 (trained) != 3.1.0 (installed)"]


def test_a_record_round_trips_and_ignores_fields_it_does_not_know():
    stored = {**record().to_dict(), "added_by_a_later_release": 1}
    assert TrainingRecord.from_dict(stored) == record()


def test_a_dirty_checkout_is_fingerprinted_by_its_diff(monkeypatch):
    from ml_pipeline.lineage import record as module

    monkeypatch.setattr(module, "code_version", lambda: {"git_commit": "a" * 40, "git_dirty": "true"})
    digest = module.current_code()["git_diff_sha256"]
    assert len(digest) == 64 or digest == "unknown"
    monkeypatch.setattr(module, "code_version", lambda: {"git_commit": "a" * 40, "git_dirty": "false"})
    assert module.current_code()["git_diff_sha256"] == ""
