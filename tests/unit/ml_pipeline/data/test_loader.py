import datetime as dt

import pytest

from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import hash_frame, read_parquet, to_uri, write_parquet
from ml_pipeline.data.loader import DeletedPartitionError, MissingPartitionError, load_partitions
from ml_pipeline.errors import PermanentError
from ml_pipeline.failures.classification import is_transient


def test_loads_the_window_of_daily_partitions(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=3, rows_per_day=500)
    frame, uris = load_partitions(dataset, dt.date(2026, 11, 20), days=2)
    assert [u.rsplit("/", 1)[-1] for u in uris] == ["2026-11-19", "2026-11-20"]
    assert set(frame["event_time"].dt.date().unique()) == {dt.date(2026, 11, 19), dt.date(2026, 11, 20)}


def test_the_newest_partition_not_landed_yet_is_transient_and_names_the_partition_and_the_fix(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=2, rows_per_day=500)
    with pytest.raises(MissingPartitionError, match=r"transactions/2026-11-21 does not exist.*generate-data") as raised:
        load_partitions(dataset, dt.date(2026, 11, 21), days=2)
    assert is_transient(raised.value)
    (tmp_path / "transactions" / "2026-11-21").mkdir()
    with pytest.raises(MissingPartitionError, match=r"transactions/2026-11-21 has no parquet files"):
        load_partitions(dataset, dt.date(2026, 11, 21), days=2)


@pytest.mark.parametrize("emptied", [False, True], ids=["folder deleted", "files deleted"])
def test_a_hole_before_a_landed_partition_is_a_deleted_partition_and_permanent(tmp_path, emptied):
    import shutil

    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=3, rows_per_day=500)
    shutil.rmtree(tmp_path / "transactions" / "2026-11-19")
    if emptied:
        (tmp_path / "transactions" / "2026-11-19").mkdir()
    with pytest.raises(DeletedPartitionError) as raised:
        load_partitions(dataset, dt.date(2026, 11, 20), days=3)
    message = str(raised.value)
    assert f"partition 2026-11-19 of dataset {dataset} is missing" in message
    assert "later partition 2026-11-20 has landed" in message
    assert "Restore" in message and "clear the failed task" in message
    assert isinstance(raised.value, PermanentError) and not is_transient(raised.value)


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
