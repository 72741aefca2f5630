"""Paths built from data and names never leave their folder: partition values, report folders, new model names."""

import datetime as dt
from dataclasses import replace

import polars as pl
import pytest

from ml_pipeline.cli import main
from ml_pipeline.config import ConfigError, load_model_config
from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.data.lake import to_uri
from ml_pipeline.data.paths import UnsafePathError, check_partition_value, join_under
from ml_pipeline.pipelines import training
from tests.conftest import REPO_ROOT
from tests.unit.ml_pipeline.pipelines.test_context import make_context

DAY = dt.date(2026, 11, 20)
ESCAPE = "x/" + "../" * 6 + "escaped"  # from <day>/_validation/<model>/region=x up to the test's folder


def files_under(folder) -> set:
    return {p.relative_to(folder) for p in folder.rglob("*")}


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """A lake of one day under ``tmp_path/lake`` and a config dir whose fraud model is partitioned by region."""
    lake = tmp_path / "lake"
    write_day(generate_day(DAY, 500), f"{to_uri(lake)}/transactions", DAY)
    configs = tmp_path / "configs"
    configs.mkdir()
    text = (REPO_ROOT / "config/model_configs/fraud_detection.yaml").read_text()
    (configs / "fraud_detection.yaml").write_text(text.replace("  target_column:", "  partition_by: region\n"
                                                                                   "  target_column:"))
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(configs))
    (tmp_path / "no-rules").mkdir()
    monkeypatch.setenv("ML_PIPELINE_RULES_DIR", str(tmp_path / "no-rules"))
    return lake


@pytest.mark.parametrize("value", ["../up", "a/b", "a\\b", "..", ".", "nul\x00", ""])
def test_an_unsafe_partition_value_is_refused_naming_value_column_and_fix(value):
    with pytest.raises(UnsafePathError, match=r"partition value .* of column 'region' \(data.partition_by\) "
                                              r"cannot name a folder: .*Clean that column's values"):
        check_partition_value(value, "region")


@pytest.mark.parametrize("value", ["apac", "us-east", "__null__", "2026-11-20", "a b", "é", "a..b", "v1.2"])
def test_a_plain_partition_value_is_kept_as_it_is(value):
    assert check_partition_value(value, "region") == value


def test_a_join_that_climbs_out_of_its_root_is_refused():
    assert join_under("file:///lake/d", "_validation", "", "m", "region=a") == "file:///lake/d/_validation/m/region=a"
    assert join_under("s3://bucket/d", "a/../b") == "s3://bucket/d/a/../b"  # still under the root
    for parts in (("region=x/../../..",), ("..",), ("a", "../../b")):
        with pytest.raises(UnsafePathError, match="leaves its folder"):
            join_under("file:///lake/d", *parts)


def test_cli_validate_refuses_a_value_that_climbs_out_and_writes_nothing(lake, tmp_path, capsys):
    before = files_under(tmp_path)
    partition = str(lake / "transactions" / DAY.isoformat())
    code = main(["validate", "--model", "fraud_detection", "--data", partition, "--lake", str(lake),
                 "--value", ESCAPE])
    assert code == 2
    err = capsys.readouterr().err
    assert f"partition value '{ESCAPE}' of column 'region' (data.partition_by)" in err and "Clean" in err
    assert files_under(tmp_path) == before  # no report, no quarantine entry, nothing outside the lake


def test_cli_validate_of_a_plain_value_writes_its_report_in_the_slice_folder(lake, capsys):
    partition = lake / "transactions" / DAY.isoformat()
    main(["validate", "--model", "fraud_detection", "--data", str(partition), "--lake", str(lake), "--value", "apac"])
    assert (partition / "_validation/fraud_detection/region=apac/report.json").exists()


def partitioned_context(lake):
    ctx = make_context(lake_uri=to_uri(lake), uri_map={"s3://ml-data": to_uri(lake)})
    data = ctx.config.data.model_copy(update={"partition_by": "region", "lookback_days": 1})
    return replace(ctx, config=ctx.config.model_copy(update={"data": data}))


def test_a_partition_value_from_the_data_that_climbs_out_stops_the_listing(lake):
    path = lake / "transactions" / DAY.isoformat() / "part-00000.parquet"
    rows = pl.read_parquet(path)
    rows.with_columns(pl.when(pl.col("region") == "apac").then(pl.lit(ESCAPE)).otherwise(pl.col("region"))
                      .alias("region")).write_parquet(path)
    with pytest.raises(UnsafePathError, match=r"partition value 'x/\.\./.*escaped' of column 'region'"):
        training.list_partitions(partitioned_context(lake))


def test_a_snapshot_of_an_unsafe_value_is_refused_before_anything_is_written(lake, tmp_path):
    before = files_under(tmp_path)
    with pytest.raises(UnsafePathError, match="of column 'region'"):
        training.load_data(partitioned_context(lake), ESCAPE)
    assert files_under(tmp_path) == before


def test_a_partition_column_that_cannot_name_a_folder_is_a_config_error(tmp_path):
    text = (REPO_ROOT / "config/model_configs/fraud_detection.yaml").read_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  target_column:", "  partition_by: ../region\n  target_column:"))
    with pytest.raises(ConfigError, match=r"bad.yaml: .*field 'data.partition_by': .*cannot name the "
                                          r"<column>=<value> folders"):
        load_model_config(bad)


@pytest.mark.parametrize("name", ["../../x", "../elsewhere/x", "a/b", "/tmp/x", "x\n"])
def test_new_model_refuses_a_name_that_is_a_path_and_writes_nothing(tmp_path, monkeypatch, capsys, name):
    configs = tmp_path / "deep" / "configs"
    configs.mkdir(parents=True)
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(configs))
    assert main(["new-model", name]) == 1
    err = capsys.readouterr().err
    assert f"model name {name!r}" in err and "lowercase letters, digits and _" in err and "Nothing was written" in err
    assert files_under(tmp_path) == {configs.relative_to(tmp_path).parent, configs.relative_to(tmp_path)}


def test_cli_validate_of_a_deleted_partition_says_so_and_exits_2(lake, capsys):
    """A day gone although a later day landed is a hole, not lateness: a clear error naming the fix, no traceback."""
    import shutil

    day_before = DAY - dt.timedelta(days=1)
    write_day(generate_day(day_before, 200), f"{to_uri(lake)}/transactions", day_before)
    partition = lake / "transactions" / day_before.isoformat()
    shutil.rmtree(partition)
    partition.mkdir()  # the folder is there, its files are gone
    code = main(["validate", "--model", "fraud_detection", "--data", str(partition), "--lake", str(lake)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: partition ") and "clear the failed task" in err, err
