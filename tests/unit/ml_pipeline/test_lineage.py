import subprocess

from ml_pipeline.lineage import code_version, lineage_tags
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
