import datetime as dt
import re

import pytest

from ml_pipeline.data.generator import generate_dataset, generate_day
from ml_pipeline.data.lake import hash_frame, read_parquet, to_uri, write_parquet
from ml_pipeline.data.loader import (
    DeletedPartitionError,
    MissingPartitionError,
    PartitionOutsideDataError,
    load_partitions,
)
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


def test_a_day_after_today_is_no_partition_that_may_still_land(tmp_path):
    """A manual run with a logical date in the future was retried for hours as "not landed yet"."""
    dataset = to_uri(tmp_path / "transactions")
    today = dt.datetime.now(dt.UTC).date()
    generate_dataset(dataset, today - dt.timedelta(days=1), days=2, rows_per_day=500)
    with pytest.raises(MissingPartitionError):  # today's partition may still land: waited for, as before
        load_partitions(dataset, today, days=2)
    ahead = today + dt.timedelta(days=2)  # (tomorrow is today for a clock an hour behind, in the day's last hour)
    with pytest.raises(PartitionOutsideDataError) as raised:
        load_partitions(dataset, ahead, days=1)
    assert re.match(rf"partition {dataset}/{ahead} is of {ahead}, after today \(\d{{4}}-\d\d-\d\d UTC\): no data "
                    "can have landed", str(raised.value)), raised.value
    assert "trigger it with a date up to today" in str(raised.value)
    assert not is_transient(raised.value)


def test_a_window_beginning_before_the_dataset_is_no_deleted_partition(tmp_path):
    """A backfill from before the data begins was "deleted (or moved)": restore what never was."""
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=3, rows_per_day=500)  # 18th to 20th
    (tmp_path / "transactions" / "2026-11-17").mkdir()  # a folder without data changes nothing
    with pytest.raises(PartitionOutsideDataError) as raised:
        load_partitions(dataset, dt.date(2026, 11, 19), days=4)
    assert str(raised.value).startswith(
        f"partition {dataset}/2026-11-16 is of 2026-11-16, before the first day dataset {dataset} holds (2026-11-18):")
    assert not is_transient(raised.value)


def test_content_hash_survives_a_round_trip_and_changes_with_the_data(tmp_path):
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=1, rows_per_day=500)
    frame, _ = load_partitions(dataset, dt.date(2026, 11, 20), days=1)
    copy = read_parquet(write_parquet(frame, to_uri(tmp_path / "copy.parquet")))
    assert hash_frame(copy) == hash_frame(frame)
    assert hash_frame(frame.with_columns(frame["amount"] + 0.01)) != hash_frame(frame)


def test_a_full_disk_keeps_the_file_that_was_there_names_the_file_and_leaves_no_half_written_copy(tmp_path):
    day = generate_day(dt.date(2026, 11, 20), 50)
    target = tmp_path / "features.parquet"
    write_parquet(day, to_uri(target))
    (tmp_path / "features.parquet.tmp").symlink_to("/dev/full")  # every write there: ENOSPC, from the kernel
    with pytest.raises(OSError, match="no space left on the device .*to write .*features.parquet.*ml-pipeline gc") as e:
        write_parquet(day.head(3), to_uri(target))
    assert e.value.errno == 28 and not is_transient(e.value)  # an operator frees space: fail and alert, no retries
    assert read_parquet(to_uri(target)).equals(day) and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


def test_corrupt_parquet_file_is_named_in_a_validation_error(tmp_path):
    from ml_pipeline.data.validator import DataValidationError

    bad = tmp_path / "transactions" / "2026-11-20" / "part-00000.parquet"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"part-00000\.parquet is not a readable parquet file"):
        load_partitions(to_uri(tmp_path / "transactions"), dt.date(2026, 11, 20), days=1)


def split_day(tmp_path, second) -> str:
    """A generated day written as two files: the first half as generated, the second as ``second`` makes it."""
    import polars as pl

    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=2, rows_per_day=400)
    folder = tmp_path / "transactions" / "2026-11-20"
    [only] = folder.glob("*.parquet")
    frame = pl.read_parquet(only)
    only.unlink()
    frame.head(200).write_parquet(folder / "part-a.parquet")
    second(frame.tail(200)).write_parquet(folder / "part-b.parquet")
    return dataset


@pytest.mark.parametrize("second", [
    lambda f: f.select(list(reversed(f.columns))),  # another writer's column order
    lambda f: f.with_columns(f["event_time"].dt.replace_time_zone(None)),  # naive: read as UTC
    lambda f: f.with_columns(f["event_time"].dt.convert_time_zone("America/New_York")),
    lambda f: f.with_columns(f["event_time"].dt.cast_time_unit("ms")),
], ids=["column order", "naive times", "another zone", "milliseconds"])
def test_files_written_differently_load_as_one_partition_in_utc_microseconds(tmp_path, second):
    import polars as pl

    dataset = split_day(tmp_path, second)
    frame, _ = load_partitions(dataset, dt.date(2026, 11, 20), days=2)  # the day before: as generated
    assert frame.height == 800 and frame.schema["event_time"] == pl.Datetime("us", "UTC")
    day = frame.filter(pl.col("event_time").dt.date() == dt.date(2026, 11, 20))
    assert day.height == 400 and day["event_time"].is_sorted()  # the same instants, whatever the encoding


@pytest.mark.parametrize(("second", "message"), [
    (lambda f: f.drop("region"), r"part-b\.parquet lacks \['region'\] the columns of .*part-a\.parquet"),
    (lambda f: f.with_columns(f["amount"].cast(str)), r"disagree on the type of \{'amount': \['part-a.parquet: "
                                                      r"Float64', 'part-b.parquet: String'\]\}"),
], ids=["a column missing", "text amounts"])
def test_files_that_disagree_on_columns_or_types_are_named_with_the_fix(tmp_path, second, message):
    from ml_pipeline.data.validator import DataValidationError

    with pytest.raises(DataValidationError, match=message) as raised:
        load_partitions(split_day(tmp_path, second), dt.date(2026, 11, 20), days=1)
    assert "Rewrite the odd file" in str(raised.value) and not is_transient(raised.value)


@pytest.mark.parametrize(("holds", "message"), [
    ("data.csv", r"holds data\.csv: only \*\.parquet files directly inside a day's folder are read"),
    ("2026-11-20/", r"holds 2026-11-20: it looks like the dataset folder: name one day's folder "
                    r"\(e\.g\. .*/2026-11-20\)"),
])
def test_a_folder_holding_something_else_than_parquet_is_no_missing_partition(tmp_path, holds, message):
    from ml_pipeline.data.loader import load_partition
    from ml_pipeline.data.validator import DataValidationError

    folder = tmp_path / "x"
    (folder / holds).mkdir(parents=True) if holds.endswith("/") else (folder.mkdir(), (folder / holds).write_text("a"))
    (folder / "_validation").mkdir()  # the platform's own reports are no data
    with pytest.raises(DataValidationError, match=message) as raised:
        load_partition(to_uri(folder))
    assert not is_transient(raised.value)  # waiting never brings parquet files: no retries


def test_an_unreadable_earlier_day_leaves_the_volume_baseline_not_the_validation(tmp_path, caplog):
    from ml_pipeline.data.loader import row_counts

    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, dt.date(2026, 11, 20), days=3, rows_per_day=300)
    [bad] = (tmp_path / "transactions" / "2026-11-19").glob("*.parquet")
    bad.write_bytes(bad.read_bytes()[:100])  # cut short
    days = [dt.date(2026, 11, 18), dt.date(2026, 11, 19)]
    assert row_counts(dataset, days) == {dt.date(2026, 11, 18): 300}
    assert "left out" in caplog.text and "is not a readable parquet file" in caplog.text


def test_uri_map_rewrites_the_longest_matching_prefix_only():
    from ml_pipeline.data.lake import parse_uri_map, resolve_uri

    uri_map = parse_uri_map("s3://ml-data=file:///lake, s3://ml-data/raw=file:///raw")
    assert resolve_uri("s3://ml-data/transactions/", uri_map) == "file:///lake/transactions"
    assert resolve_uri("s3://ml-data/raw/x", uri_map) == "file:///raw/x"
    assert resolve_uri("s3://ml-database/x", uri_map) == "s3://ml-database/x"
    with pytest.raises(ValueError, match="ML_DATA_URI_MAP"):
        parse_uri_map("no-scheme=file:///x")


def test_the_validation_sensor_fails_at_once_for_a_day_that_can_never_land_and_waits_for_one_that_may(tmp_path):
    from types import SimpleNamespace

    from ml_pipeline.data.loader import PartitionOutsideDataError
    from ml_pipeline.pipelines.validation import landed_partition

    today = dt.datetime.now(dt.UTC).date()
    days = [today - dt.timedelta(days=n) for n in (3, 2, 1)]
    dataset = to_uri(tmp_path / "transactions")
    generate_dataset(dataset, days[-1], days=3, rows_per_day=50)
    (tmp_path / "transactions" / str(days[1]) / "part-00000.parquet").unlink()  # a hole: it may land late
    run = SimpleNamespace(dataset_uri=dataset, logical_date=days[-1])
    assert landed_partition(run) == f"{dataset}/{days[-1]}"
    assert landed_partition(run, days[1]) is None
    assert landed_partition(run, today) is None  # today's: not landed yet
    before = days[0] - dt.timedelta(days=5)
    with pytest.raises(PartitionOutsideDataError, match=f"{before}, before the first day .* holds \\({days[0]}\\)"):
        landed_partition(run, before)
    after = today + dt.timedelta(days=2)  # past CLOCK_SKEW whatever the hour
    with pytest.raises(PartitionOutsideDataError, match=f"is of {after}, after today"):
        landed_partition(run, after)
