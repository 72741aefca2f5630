"""Validation on a real local lake: bad inputs, reports next to the data, quarantine and release."""

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from ml_pipeline.cli import main
from ml_pipeline.data.generator import generate_day, write_day
from ml_pipeline.data.lake import to_uri
from ml_pipeline.data.loader import MissingPartitionError
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.pipelines import training
from ml_pipeline.validation.quarantine import QuarantineStore
from tests.unit.ml_pipeline.pipelines.test_context import make_context

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def lake(tmp_path):
    for offset in range(3):
        day = DAY - dt.timedelta(days=offset)
        write_day(generate_day(day, 2_000), f"{to_uri(tmp_path)}/transactions", day)
    return tmp_path


@pytest.fixture
def ctx(lake):
    ctx = make_context(lake_uri=to_uri(lake), uri_map={"s3://ml-data": to_uri(lake)})
    data = ctx.config.data.model_copy(update={"lookback_days": 2})
    return ctx.__class__(**{**ctx.__dict__, "config": ctx.config.model_copy(update={"data": data})})


def rewrite(lake: Path, change) -> Path:
    """Replace the newest partition's rows with ``change(rows)``."""
    path = lake / "transactions" / DAY.isoformat() / "part-00000.parquet"
    change(pl.read_parquet(path)).write_parquet(path)
    return path


def validate(ctx) -> dict:
    return training.validate_data(ctx, training.load_data(ctx))


def test_clean_window_passes_and_reports_sit_next_to_the_data(ctx, lake):
    result = validate(ctx)
    assert result["status"] == "passed" and result["warnings"] == 0
    report = json.loads((lake / "transactions" / DAY.isoformat() / "_validation/fraud_detection/report.json")
                        .read_text())
    assert report["status"] == "passed" and report["rows"] == 2_000
    assert {"volume.min_rows", "statistics.range:amount", "freshness.max_age"} <= {r["id"] for r in report["results"]}
    markdown = (lake / "transactions" / DAY.isoformat() / "_validation/fraud_detection/report.md").read_text()
    assert markdown.startswith("# Data validation: fraud_detection\n\n**PASSED**")


def test_warnings_are_reported_but_do_not_block(ctx, lake):
    rewrite(lake, lambda rows: rows.with_columns(pl.when(pl.col("amount") > 200).then(pl.col("amount") * 10)
                                                 .otherwise(pl.col("amount")).alias("amount")))
    result = validate(ctx)
    assert result["status"] == "warning" and result["warnings"] >= 1


def test_bad_data_is_quarantined_with_every_failed_check_and_nothing_deleted(ctx, lake):
    path = rewrite(lake, lambda rows: rows.with_columns(
        pl.when(pl.col("amount") > 100).then(-1.0).otherwise(pl.col("amount")).alias("amount"),
        pl.lit("casino").alias("merchant_category")))
    with pytest.raises(DataValidationError) as error:
        validate(ctx)
    message = str(error.value)
    partition = f"{to_uri(lake)}/transactions/{DAY}"
    assert f"data validation failed for fraud_detection on 1 partition(s):\n  {partition}:" in message
    assert "amount: statistics.range:amount expected every value in [0, 50000], actual rows_outside=" in message
    assert "merchant_category: statistics.categories:merchant_category expected one of" in message
    assert "`ml-pipeline quarantine release --model fraud_detection <partition>`" in message
    assert path.exists()
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection")
    assert entry["status"] == "quarantined" and entry["data_uri"].endswith(f"/transactions/{DAY}")
    assert any("statistics.range:amount" in failure for failure in entry["failures"])


def test_release_lets_exactly_that_data_through_and_a_fix_resolves(ctx, lake, capsys):
    rewrite(lake, lambda rows: rows.with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud")))
    with pytest.raises(DataValidationError, match="statistics.rate:is_fraud expected rate in"):
        validate(ctx)
    assert main(["quarantine", "list", "--lake", str(lake)]) == 0
    assert "statistics.rate:is_fraud" in capsys.readouterr().out
    partition = f"{to_uri(lake)}/transactions/{DAY}"
    assert main(["quarantine", "release", "--model", "fraud_detection", partition, "--reason", "holiday",
                 "--lake", str(lake)]) == 0
    assert validate(ctx)["released"] == [partition]
    assert QuarantineStore(to_uri(lake)).list("fraud_detection") == []
    rewrite(lake, lambda rows: rows.with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud")).head(1500))
    with pytest.raises(DataValidationError, match="statistics.rate:is_fraud"):
        validate(ctx)  # the release covered the data a person looked at, not new data
    write_day(generate_day(DAY, 2_000), f"{to_uri(lake)}/transactions", DAY)
    assert validate(ctx)["status"] == "passed"
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection", everything=True)
    assert entry["status"] == "resolved"


def test_corrupt_parquet_fails_the_load_and_is_quarantined(ctx, lake):
    path = lake / "transactions" / DAY.isoformat() / "part-00000.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DataValidationError, match=r"part-00000\.parquet is not a readable parquet file"):
        training.load_data(ctx)
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection")
    assert entry["failures"][0].startswith("[error] schema.readable expected every parquet file readable")
    assert path.read_bytes() == b"PAR1 this is not parquet"


def test_empty_partition_fails_on_volume(ctx, lake):
    rewrite(lake, lambda rows: rows.head(0))
    with pytest.raises(DataValidationError, match=r"volume.min_rows expected ≥ 1000 rows, actual rows=0"):
        validate(ctx)


def test_missing_partition_directory_names_it(ctx, lake):
    import shutil

    shutil.rmtree(lake / "transactions" / DAY.isoformat())
    with pytest.raises(MissingPartitionError, match=rf"transactions/{DAY} does not exist \(no such directory\)"):
        training.load_data(ctx)


def test_cli_validate_prints_the_summary_and_exits_non_zero_on_errors(lake, capsys):
    partition = str(lake / "transactions" / DAY.isoformat())
    assert main(["validate", "--model", "fraud_detection", "--data", partition, "--lake", str(lake)]) == 0
    assert "fraud_detection on " in capsys.readouterr().out
    rewrite(lake, lambda rows: pl.concat([rows, rows.head(50)]))
    assert main(["validate", "--model", "fraud_detection", "--data", partition, "--lake", str(lake)]) == 1
    out = capsys.readouterr().out
    assert ": FAILED — " in out and "uniqueness.rows expected ≤ 0.00% duplicate rows" in out
    assert "quarantined: release with `ml-pipeline quarantine release --model fraud_detection" in out
    assert main(["validate", "--model", "fraud_detection", "--data", str(lake / "nope"), "--lake", str(lake)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_mistyped_column_in_one_partition_fails_only_that_partition(ctx, lake):
    rewrite(lake, lambda rows: rows.with_columns(pl.col("is_fraud").cast(pl.String)))
    with pytest.raises(DataValidationError) as error:
        validate(ctx)
    message = str(error.value)
    assert "on 1 partition(s):" in message and f"transactions/{DAY}:" in message
    assert "is_fraud: schema.dtype:is_fraud expected int, actual dtype=String" in message
    assert [e["data_uri"].rsplit("/", 1)[-1] for e in QuarantineStore(to_uri(lake)).list()] == [DAY.isoformat()]


def test_empty_partition_reports_no_phantom_duplicates(ctx, lake):
    rewrite(lake, lambda rows: rows.head(0))
    with pytest.raises(DataValidationError) as error:
        validate(ctx)
    assert "uniqueness" not in str(error.value)


@pytest.mark.parametrize(("change", "releasable"), [
    (lambda rows: rows.with_columns(pl.col("amount").cast(pl.String)), False),  # numbers as text: training fails
    (lambda rows: rows.with_columns(pl.col("amount").round().cast(pl.Int64)), True),  # whole amounts: it trains
], ids=["text amounts", "integer amounts"])
def test_data_training_cannot_read_is_not_released(ctx, lake, capsys, change, releasable):
    rewrite(lake, change)
    with pytest.raises(DataValidationError, match="schema.dtype:amount expected float"):
        validate(ctx)
    partition = f"{to_uri(lake)}/transactions/{DAY}"
    code = main(["quarantine", "release", "--model", "fraud_detection", partition, "--reason", "x", "--lake",
                 str(lake)])
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection", everything=True)
    assert (code, entry["status"]) == ((0, "released") if releasable else (1, "quarantined"))
    if not releasable:
        assert capsys.readouterr().err.startswith(
            f"error: {partition} cannot be released for fraud_detection: training cannot read data "
            "that failed [error] amount: schema.dtype:amount expected float, actual dtype=String. Fix the data")


def test_a_quarantine_entry_cut_short_is_skipped_naming_the_file_and_written_afresh(ctx, lake, capsys, caplog):
    rewrite(lake, lambda rows: rows.with_columns(pl.lit(0, dtype=pl.Int8).alias("is_fraud")))
    with pytest.raises(DataValidationError):
        validate(ctx)
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection")
    stored = lake / "quarantine" / "fraud_detection" / f"{entry['id']}.json"
    (stored.parent / "other.json").write_text('{"id": "other"}')  # not an entry: skipped too
    (stored.parent / "folder.json").mkdir()  # nor is a folder named like one
    stored.write_text(stored.read_text()[:40])  # a writer killed mid-write
    assert main(["quarantine", "list", "--lake", str(lake)]) == 0
    assert f"skipped {stored}: not JSON" in caplog.text and "other.json: not a quarantine entry" in caplog.text
    assert "folder.json: a folder, not an entry" in caplog.text
    with pytest.raises(DataValidationError, match="statistics.rate:is_fraud"):
        validate(ctx)  # validated again: the entry is written afresh
    assert QuarantineStore(to_uri(lake)).list("fraud_detection")[0]["status"] == "quarantined"


def test_a_file_that_does_not_exist_or_a_folder_named_like_a_file_is_no_traceback(lake, capsys):
    folder = lake / "transactions" / DAY.isoformat()
    nope = folder / "nope.parquet"
    assert main(["validate", "--model", "fraud_detection", "--data", str(nope), "--lake", str(lake)]) == 2
    assert capsys.readouterr().err == (f"error: {to_uri(nope)} does not exist: name a partition's folder "
                                       "(…/YYYY-MM-DD) or one of its parquet files\n")
    (folder / "part-99999.parquet").mkdir()  # a folder named like a file: not read as one
    assert main(["validate", "--model", "fraud_detection", "--data", str(folder), "--lake", str(lake)]) == 0
    assert "PASSED" in capsys.readouterr().out
    named = folder / "part-99999.parquet"  # and given as the data itself: no IsADirectoryError traceback
    assert main(["validate", "--model", "fraud_detection", "--data", str(named), "--lake", str(lake)]) == 2
    assert capsys.readouterr().err == (f"error: {to_uri(named)} is a folder: name a partition's folder "
                                       "(…/YYYY-MM-DD) or one of its parquet files\n")


def test_a_day_copied_into_another_days_folder_fails_the_training_window(ctx, lake):
    """Each copy passes its own partition's rules; the window would train on the same transactions twice."""
    import shutil

    folder = lake / "transactions" / DAY.isoformat()
    shutil.rmtree(folder)
    shutil.copytree(lake / "transactions" / (DAY - dt.timedelta(days=1)).isoformat(), folder)
    with pytest.raises(DataValidationError, match=r"^2000 value\(s\) of the uniqueness key \['transaction_id'\] "
                                                  r"appear in more than one partition of the window \(e\.g\. "
                                                  r"\{'transaction_id': 'tx-20261119-00000000'\} in .*/2026-11-19, "
                                                  r".*/2026-11-20\): a day's data copied"):
        validate(ctx)


def test_a_column_training_does_not_read_may_be_missing_from_a_released_partition(lake):
    """A rule of the user's requires a column the model never reads: that data trains, so it may be released."""
    from ml_pipeline.validation.quarantine import QuarantineError

    store = QuarantineStore(to_uri(lake))
    failure = "[error] merchant_notes: schema.required:merchant_notes expected column present, actual present=False"
    entry = {"id": "day__1", "model": "m", "data_uri": "file:///x/2026-11-20", "scope": None, "status": "quarantined",
             "fingerprint": "f", "quarantined_at": "2026-11-20T06:00:00+00:00", "failures": [failure], "release": None}
    store._write(store._uri("m", "day__1"), entry)
    with pytest.raises(QuarantineError, match="training cannot read data that failed .*schema.required:merchant"):
        store.release("m", "day__1", "x", read={"merchant_notes", "amount"})
    assert store.release("m", "day__1", "x", read={"amount", "is_fraud"})["status"] == "released"


def test_a_model_input_written_as_nulls_only_stops_training(ctx, lake):
    """`merchant_category` present but null in every row: the model would train without it, on a good score."""
    rewrite(lake, lambda rows: rows.with_columns(pl.lit(None, dtype=pl.String).alias("merchant_category")))
    with pytest.raises(DataValidationError) as error:
        validate(ctx)
    assert ("merchant_category: completeness.not_empty:merchant_category expected at least one value, actual values=0"
            in str(error.value))
    [entry] = QuarantineStore(to_uri(lake)).list("fraud_detection")
    assert entry["data_uri"].endswith(f"/transactions/{DAY}")
