"""Partitioned steps on a local lake: values found from the data, errors that name the partition."""

import datetime as dt
from dataclasses import replace

import pytest

from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.data.lake import hash_frame, read_parquet, to_uri
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.pipelines import training
from tests.unit.ml_pipeline.pipelines.test_context import make_context

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    (tmp_path / "no-rules").mkdir()
    monkeypatch.setenv("ML_PIPELINE_RULES_DIR", str(tmp_path / "no-rules"))  # only the rules the config implies
    lake = to_uri(tmp_path)
    for offset in range(2):
        day = DAY - dt.timedelta(days=offset)
        write_day(generate_day(day, 1_000), f"{lake}/transactions", day)
    ctx = make_context(lake_uri=lake, uri_map={"s3://ml-data": lake})
    data = ctx.config.data.model_copy(update={"partition_by": "region", "lookback_days": 2})
    return replace(ctx, config=ctx.config.model_copy(update={"data": data}))


def test_partition_values_come_from_the_data_and_each_load_keeps_its_rows(ctx):
    values = training.list_partitions(ctx)
    assert values == sorted({"us-east", "us-west", "eu-west", "eu-central", "apac", "latam", "africa"})
    loaded = training.load_data(ctx, "apac")
    assert loaded["snapshot_uri"].endswith("/region=apac/snapshot.parquet")
    assert 0 < loaded["rows"] < 2_000


def test_a_rerun_with_other_rows_writes_beside_the_snapshot_a_version_may_have_been_trained_on(ctx):
    first = training.load_data(ctx, "apac")
    features = training.engineer_features(ctx, first)
    again = training.load_data(ctx, "apac")  # the same rows (a retried task): the same files
    assert (again["snapshot_uri"], training.engineer_features(ctx, again)) == (first["snapshot_uri"], features)
    write_day(generate_day(DAY, 1_000, seed=99), f"{ctx.lake_uri}/transactions", DAY)  # late data, run cleared
    rerun = training.load_data(ctx, "apac")
    assert rerun["data_hash"] != first["data_hash"]
    assert rerun["snapshot_uri"].endswith(f"/region=apac/snapshot-{rerun['data_hash'][:12]}.parquet")
    assert hash_frame(read_parquet(first["snapshot_uri"])) == first["data_hash"]  # still the first run's rows
    assert hash_frame(read_parquet(rerun["snapshot_uri"])) == rerun["data_hash"]
    refeatured = training.engineer_features(ctx, rerun)
    assert refeatured["features_uri"].endswith(".parquet") and refeatured["features_uri"] != features["features_uri"]
    assert read_parquet(features["features_uri"]).height == features["rows"]  # the first table kept


def test_a_failing_partition_is_named_in_the_error(ctx):
    loaded = training.load_data(ctx, "latam")
    broken = replace(ctx, config=ctx.config.model_copy(update={"data": ctx.config.data.model_copy(
        update={"features": ["amount", "no_such_column"]})}))
    expected = r"transactions/2026-11-20 \[region=latam\]:\n.*no_such_column: schema.required:no_such_column"
    with pytest.raises(DataValidationError, match=expected):
        training.validate_data(broken, loaded)


def test_combined_slices_are_every_row_with_the_weighted_positive_rate(ctx):
    loaded = [training.load_data(ctx, value) for value in ("latam", "apac")]  # out of order on purpose
    features = [training.engineer_features(ctx, part) for part in loaded]
    combined = training.combine_partitions(ctx, loaded, features)
    rows = sum(part["rows"] for part in loaded)
    assert combined["loaded"]["rows"] == combined["features"]["rows"] == rows
    assert combined["loaded"]["partition"] is None and combined["loaded"]["snapshot_uri"].split(",") == [
        loaded[1]["snapshot_uri"], loaded[0]["snapshot_uri"]]  # in the order of the values: apac, latam
    expected = sum(part["positive_rate"] * part["rows"] for part in loaded) / rows
    assert combined["loaded"]["positive_rate"] == pytest.approx(expected)


def corrupt(ctx, name: str = "part-00001.parquet"):
    """Add an unreadable file to the newest day's partition."""
    from pathlib import Path

    path = Path(ctx.lake_uri.removeprefix("file://")) / "transactions" / DAY.isoformat() / name
    path.write_bytes(b"PAR1 this is not parquet")
    return path


def test_an_unreadable_file_does_not_break_the_listing_and_quarantines_each_slice_scoped(ctx):
    from ml_pipeline.pipelines import validation
    from ml_pipeline.validation.quarantine import QuarantineStore

    path = corrupt(ctx)
    assert "apac" in validation.partition_slices(ctx)  # the readable file still names the slices
    assert "apac" in training.list_partitions(ctx)
    with pytest.raises(DataValidationError, match=r"part-00001\.parquet is not a readable parquet file"):
        training.load_data(ctx, "apac")
    with pytest.raises(DataValidationError, match=r"\[region=latam\]:\n.*schema.readable"):
        validation.validate_partition(ctx, f"{ctx.dataset_uri}/{DAY}", "latam")
    store = QuarantineStore(ctx.lake_uri)
    assert sorted(e["scope"] for e in store.list("fraud_detection")) == ["region=apac", "region=latam"]
    path.unlink()  # the file is removed: the slice's next validation resolves its entry
    training.validate_data(ctx, training.load_data(ctx, "apac"))
    assert [e["scope"] for e in store.list("fraud_detection")] == ["region=latam"]


def test_a_partition_with_no_readable_file_names_its_files_when_listed(ctx):
    from ml_pipeline.pipelines import validation

    corrupt(ctx, "part-00000.parquet")
    with pytest.raises(DataValidationError, match=r"no readable parquet file to list the values of 'region' "
                                                  r"\(data.partition_by\) from: .*part-00000\.parquet cannot be read"):
        validation.partition_slices(ctx)


def test_a_slice_without_any_value_of_an_input_is_warned_and_the_whole_day_is_not_spared(ctx, tmp_path):
    """`merchant_category` null in every apac row: apac's slice trains with a warning; null in the whole day fails."""
    import polars as pl

    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import validate_partition_uri

    path = tmp_path / "transactions" / DAY.isoformat() / "part-00000.parquet"
    rows = pl.read_parquet(path)
    rows.with_columns(pl.when(pl.col("region") == "apac").then(None).otherwise(pl.col("merchant_category"))
                      .alias("merchant_category")).write_parquet(path)
    result = training.validate_data(ctx, training.load_data(ctx, "apac"))
    assert result["status"] == "warning" and result["warnings"] >= 1
    rows.with_columns(pl.lit(None, dtype=pl.String).alias("merchant_category")).write_parquet(path)
    day = validate_partition_uri(ctx.config, rules_for_model(ctx.config, ctx.config_path), to_uri(path.parent),
                                 ctx.lake_uri)  # the whole day, as the feature DAG validates it
    assert "completeness.not_empty:merchant_category" in {check.id for check in day.errors}
