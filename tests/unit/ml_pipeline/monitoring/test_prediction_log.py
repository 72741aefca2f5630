"""The prediction log: day partitions, columns as logged, spilling while the lake fails, drops counted, reads."""

import argparse
import datetime as dt
import time
from pathlib import Path

import polars as pl
import pytest

from ml_pipeline.deployment.client import serving_argv
from ml_pipeline.deployment.serving import prediction_writer
from ml_pipeline.monitoring.prediction_log import (
    PredictionLogWriter,
    log_batch,
    predictions_uri,
    read_predictions,
)

FEATURES = {"amount": "double", "hour": "long", "merchant_category": "string"}
DAY = dt.date(2026, 11, 20)
NOON = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
METADATA = ["request_id", "model", "model_version", "predicted_at", "score", "entity_id"]


def rows(count: int, start: int = 0) -> list[dict]:
    """Request rows as a client sends them: features, the entity key, an ignored extra field."""
    return [{"amount": 10.0 * i, "hour": i % 24, "merchant_category": f"cat-{i % 3}", "transaction_id": f"tx-{i}",
             "comment": "not a feature"} for i in range(start, start + count)]


def writer(lake: Path | str, tmp_path: Path, **kwargs) -> PredictionLogWriter:
    lake_uri = lake if isinstance(lake, str) else lake.as_uri()
    return PredictionLogWriter(lake_uri, "fraud", FEATURES, tmp_path / "spill", entity_key="transaction_id",
                               **kwargs)


def lake_files(lake: Path) -> list[Path]:
    return sorted(lake.glob("predictions/fraud/*/*.parquet"))


def test_predictions_uri_names_the_model_and_the_day():
    assert predictions_uri("file:///lake/", "fraud") == "file:///lake/predictions/fraud"
    assert predictions_uri("s3://bucket", "fraud", DAY) == "s3://bucket/predictions/fraud/2026-11-20"


def test_rows_land_in_their_days_partition_with_the_logged_columns(tmp_path):
    log = writer(tmp_path / "lake", tmp_path)
    log.log("req-1", "3", rows(2), [0.25, 0.75], at=NOON)
    log.log("req-2", "3", [{"amount": 7, "hour": None, "merchant_category": None}], [0.5],
            at=NOON + dt.timedelta(hours=13))  # the next day (UTC), and no entity key in the row
    assert log.stats()["buffered_rows"] == 3 and lake_files(tmp_path / "lake") == []  # nothing written by log()
    assert log.flush() == 3

    first, second = lake_files(tmp_path / "lake")
    assert first.parent.name == "2026-11-20" and second.parent.name == "2026-11-21"
    assert first.name.startswith("part-") and len(first.stem.split("-")[2]) == 8
    day = pl.read_parquet(first)
    assert day.columns == [*METADATA, "amount", "hour", "merchant_category"]
    assert dict(day.schema) == {"request_id": pl.String, "model": pl.String, "model_version": pl.String,
                                "predicted_at": pl.Datetime("us", "UTC"), "score": pl.Float64,
                                "entity_id": pl.String, "amount": pl.Float64, "hour": pl.Float64,
                                "merchant_category": pl.String}
    assert day.rows() == [("req-1", "fraud", "3", NOON, 0.25, "tx-0", 0.0, 0.0, "cat-0"),
                          ("req-1", "fraud", "3", NOON, 0.75, "tx-1", 10.0, 1.0, "cat-1")]
    assert pl.read_parquet(second).row(0)[4:] == (0.5, None, 7.0, None, None)
    assert log.stats() == {"written_rows": 3, "buffered_rows": 0, "spilled_rows": 0, "dropped_rows": 0,
                           "files_written": 2, "last_error": None}


def test_entity_id_comes_from_the_entity_key_as_text_and_is_null_without_one(tmp_path):
    keyed = writer(tmp_path / "lake", tmp_path)
    keyed.log("r", "1", [{**rows(1)[0], "transaction_id": 12345}, rows(1)[0], {"amount": 1.0}], [0.1, 0.2, 0.3])
    keyed.flush()
    assert pl.read_parquet(lake_files(tmp_path / "lake")[0])["entity_id"].to_list() == ["12345", "tx-0", None]
    unkeyed = PredictionLogWriter((tmp_path / "other").as_uri(), "fraud", FEATURES, tmp_path / "spill2")
    unkeyed.log("r", "1", rows(2), [0.1, 0.2])
    unkeyed.flush()
    [file] = sorted((tmp_path / "other").glob("predictions/fraud/*/*.parquet"))
    assert pl.read_parquet(file)["entity_id"].to_list() == [None, None]


def test_a_failing_lake_spills_to_disk_and_the_next_flush_moves_everything_up(tmp_path):
    lake = tmp_path / "lake"
    lake.write_text("a regular file where the lake folder should be")  # every write under it fails
    log = writer(lake, tmp_path)
    log.log("before", "1", rows(3), [0.1, 0.2, 0.3], at=NOON)
    log.flush()
    log.log("during", "1", rows(2, start=3), [0.4, 0.5], at=NOON + dt.timedelta(days=1))
    log.flush()
    stats = log.stats()
    assert (stats["written_rows"], stats["spilled_rows"], stats["dropped_rows"], stats["files_written"]) == (0, 5, 0, 0)
    assert "lake write failed" in stats["last_error"]
    spilled = sorted((tmp_path / "spill").glob("*/*.parquet"))
    assert [p.parent.name for p in spilled] == ["2026-11-20", "2026-11-21"]

    restarted = writer(lake, tmp_path)  # a server restarted over the same spill folder counts what waits there
    assert restarted.stats()["spilled_rows"] == 5

    lake.unlink()
    lake.mkdir()  # the lake is back
    restarted.log("after", "1", rows(1, start=5), [0.6], at=NOON)
    restarted.flush()
    stats = restarted.stats()
    assert (stats["written_rows"], stats["spilled_rows"], stats["dropped_rows"], stats["files_written"]) == (6, 0, 0, 3)
    assert list((tmp_path / "spill").glob("*/*.parquet")) == []
    assert {p.name for p in spilled} <= {p.name for p in lake_files(lake)}  # moved under their own names
    back = read_predictions(lake.as_uri(), "fraud", NOON - dt.timedelta(days=1), NOON + dt.timedelta(days=2))
    assert back.sort("entity_id")["entity_id"].to_list() == [f"tx-{i}" for i in range(6)]
    assert sorted(back["score"].to_list()) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]


def test_a_full_buffer_drops_and_counts_exactly_the_rows_beyond_it(tmp_path):
    log = writer(tmp_path / "lake", tmp_path, max_buffered_rows=10)
    log.log("a", "1", rows(4), [0.1] * 4)
    log.log("b", "1", rows(4, start=4), [0.2] * 4)
    log.log("c", "1", rows(4, start=8), [0.3] * 4)  # 2 fit, 2 dropped
    log.log("d", "1", rows(3, start=12), [0.4] * 3)  # all dropped
    assert log.stats()["dropped_rows"] == 5 and log.stats()["buffered_rows"] == 10
    log.flush()
    log.log("e", "1", rows(1, start=20), [0.5])  # room again once flushed
    log.flush()
    logged = pl.concat([pl.read_parquet(p) for p in lake_files(tmp_path / "lake")])
    assert sorted(logged["entity_id"].to_list()) == sorted([f"tx-{i}" for i in (*range(10), 20)])
    assert log.stats()["written_rows"] == 11 and log.stats()["dropped_rows"] == 5


def test_read_predictions_returns_the_window_and_reads_only_its_days(tmp_path):
    log = writer(tmp_path / "lake", tmp_path)
    for hours in (-30, -1, 0, 5, 11, 12, 40):
        log.log(f"h{hours}", "1", rows(1, start=hours + 100), [0.5], at=NOON + dt.timedelta(hours=hours))
    log.flush()
    far = dt.date(2026, 11, 23)
    (tmp_path / "lake" / "predictions" / "fraud" / far.isoformat() / "part-000000-broken00.parquet").parent.mkdir()
    (tmp_path / "lake" / "predictions" / "fraud" / far.isoformat() / "part-000000-broken00.parquet").write_text("x")

    window = read_predictions((tmp_path / "lake").as_uri(), "fraud", NOON, NOON + dt.timedelta(hours=12))
    assert window["request_id"].to_list() == ["h0", "h5", "h11"]  # start included, end excluded, sorted
    naive = read_predictions((tmp_path / "lake").as_uri(), "fraud", dt.datetime(2026, 11, 19, 0),
                             dt.datetime(2026, 11, 20, 12))  # naive times are UTC; the broken day is never read
    assert naive["request_id"].to_list() == ["h-30", "h-1"]
    empty = read_predictions((tmp_path / "lake").as_uri(), "unlogged", NOON, NOON + dt.timedelta(days=1))
    assert empty.height == 0 and empty.columns == METADATA


def test_a_version_with_other_features_is_logged_with_its_own_columns(tmp_path):
    log = writer(tmp_path / "lake", tmp_path)
    log.log("v1", "1", rows(1), [0.1], at=NOON)
    log.log("v2", "2", [{"amount": 5.0, "velocity": 3, "transaction_id": "tx-9"}], [0.9],
            features={"amount": "double", "velocity": "double"}, at=NOON + dt.timedelta(minutes=1))
    log.flush()
    both = read_predictions((tmp_path / "lake").as_uri(), "fraud", NOON, NOON + dt.timedelta(hours=1))
    assert both.select("model_version", "amount", "merchant_category", "velocity").rows() == [
        ("1", 0.0, "cat-0", None), ("2", 5.0, None, 3.0)]


def test_log_batch_logs_a_batch_bigger_than_the_buffer_without_dropping(tmp_path):
    log = writer(tmp_path / "lake", tmp_path, batch_rows=4, max_buffered_rows=10)
    frame = pl.DataFrame(rows(25)).drop("comment")
    request_id = log_batch(log, "7", frame, [i / 25 for i in range(25)], at=NOON)
    log.flush()
    logged = read_predictions((tmp_path / "lake").as_uri(), "fraud", NOON, NOON + dt.timedelta(seconds=1))
    assert logged.height == 25 and set(logged["request_id"]) == {request_id} and log.stats()["dropped_rows"] == 0
    assert sorted(logged["entity_id"]) == sorted(frame["transaction_id"])
    with pytest.raises(ValueError, match="25 rows but 3 scores"):
        log_batch(log, "7", frame, [0.1, 0.2, 0.3])


def test_the_background_thread_writes_full_batches_and_close_writes_the_rest(tmp_path):
    log = writer(tmp_path / "lake", tmp_path, batch_rows=5, flush_seconds=60).start()
    log.log("full", "1", rows(5), [0.1] * 5)
    deadline = time.monotonic() + 10
    while log.stats()["written_rows"] < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert log.stats()["written_rows"] == 5  # a full batch is written long before flush_seconds
    log.log("rest", "1", rows(2), [0.2] * 2)
    log.close()
    assert log.stats()["written_rows"] == 7 and log.stats()["buffered_rows"] == 0


def test_only_production_servers_log_predictions(monkeypatch, tmp_path):
    production = serving_argv("fraud", 8500, "http://mlflow", prediction_log="file:///lake",
                              entity_key="transaction_id", spill_dir=tmp_path)
    assert production[production.index("--prediction-log") + 1] == "file:///lake"
    assert production[production.index("--entity-key") + 1] == "transaction_id"
    assert "--prediction-log" not in serving_argv("fraud", 8500, "http://mlflow", version="7")
    monkeypatch.setenv("ML_PREDICTION_LOG_URI", (tmp_path / "lake").as_uri())
    monkeypatch.setenv("ML_PREDICTION_SPILL_DIR", str(tmp_path / "spool"))
    args = argparse.Namespace(model="fraud", port=8500, version=None, prediction_log=None, entity_key=None,
                              spill_dir=None)
    from_env = prediction_writer(args)
    assert from_env.lake_uri == (tmp_path / "lake").as_uri()  # from the environment
    assert from_env.spill_dir == tmp_path / "spool" / "ml-prediction-spool-fraud-8500"
    assert prediction_writer(argparse.Namespace(**{**vars(args), "version": "7"})) is None  # staging: never


def test_odd_values_are_logged_as_received_or_null_and_never_lose_the_row(tmp_path):
    log = writer(tmp_path / "lake", tmp_path)
    log.log("odd", "1", [{"amount": "12.5", "hour": True, "merchant_category": 7, "transaction_id": 1},
                         {"amount": "n/a", "hour": 3, "merchant_category": "x", "transaction_id": 2}], [0.1, 0.2])
    log.flush()
    [file] = lake_files(tmp_path / "lake")
    assert pl.read_parquet(file).select("entity_id", *FEATURES).rows() == [("1", 12.5, 1.0, "7"),
                                                                          ("2", None, 3.0, "x")]


def test_rows_that_cannot_be_framed_are_counted_as_dropped_not_lost_silently(tmp_path):
    log = writer(tmp_path / "lake", tmp_path)
    log.log("bad", "1", rows(2), ["not a score", 0.2])
    assert log.flush() == 2
    stats = log.stats()
    assert (stats["dropped_rows"], stats["written_rows"], stats["buffered_rows"]) == (2, 0, 0)
    assert "2 rows could not be logged" in stats["last_error"]
