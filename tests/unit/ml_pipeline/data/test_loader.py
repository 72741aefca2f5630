import datetime as dt

import pytest

from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import hash_frame, read_parquet, to_uri, write_parquet
from ml_pipeline.data.loader import MissingPartitionError, load_partitions


def test_loads_the_window_of_daily_partitions(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=3, rows_per_day=500)
    frame, uris = load_partitions(dataset, dt.date(2026, 11, 20), days=2)
    assert [u.rsplit("/", 1)[-1] for u in uris] == ["2026-11-19", "2026-11-20"]
    assert set(frame["event_time"].dt.date().unique()) == {dt.date(2026, 11, 19), dt.date(2026, 11, 20)}


def test_missing_partition_names_the_partition_and_the_fix(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=1, rows_per_day=500)
    with pytest.raises(MissingPartitionError, match=r"transactions/2026-11-19 does not exist.*generate-data"):
        load_partitions(dataset, dt.date(2026, 11, 20), days=2)
    (tmp_path / "transactions" / "2026-11-19").mkdir()
    with pytest.raises(MissingPartitionError, match=r"transactions/2026-11-19 has no parquet files"):
        load_partitions(dataset, dt.date(2026, 11, 20), days=2)


def test_content_hash_survives_a_round_trip_and_changes_with_the_data(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=1, rows_per_day=500)
    frame, _ = load_partitions(dataset, dt.date(2026, 11, 20), days=1)
    copy = read_parquet(write_parquet(frame, to_uri(tmp_path / "copy.parquet")))
    assert hash_frame(copy) == hash_frame(frame)
    assert hash_frame(frame.with_columns(frame["amount"] + 0.01)) != hash_frame(frame)


def test_corrupt_parquet_file_is_named_in_a_validation_error(tmp_path):
    from ml_pipeline.data.validator import DataValidationError

    bad = tmp_path / "transactions" / "2026-11-20" / "part-00000.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"part-00000\.parquet is not a readable parquet file"):
        load_partitions(to_uri(tmp_path / "transactions"), dt.date(2026, 11, 20), days=1)


def test_uri_map_rewrites_the_longest_matching_prefix_only():
    from ml_pipeline.data.lake import parse_uri_map, resolve_uri

    uri_map = parse_uri_map("s3://ml-data=file:///lake, s3://ml-data/raw=file:///raw")
    assert resolve_uri("s3://ml-data/transactions/", uri_map) == "file:///lake/transactions"
    assert resolve_uri("s3://ml-data/raw/x", uri_map) == "file:///raw/x"
    assert resolve_uri("s3://ml-database/x", uri_map) == "s3://ml-database/x"
    with pytest.raises(ValueError, match="ML_DATA_URI_MAP"):
        parse_uri_map("no-scheme=file:///x")
