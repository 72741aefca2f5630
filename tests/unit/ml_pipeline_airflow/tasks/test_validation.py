"""The validation DAG's tasks: a partition gone after its sensor saw it land fails at once, naming it."""

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import to_uri
from ml_pipeline.data.loader import DeletedPartitionError
from ml_pipeline_airflow.tasks import validation

DAY = dt.date(2026, 11, 20)


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    """A dataset of one day, the run's, with the task's Airflow context replaced by that run's."""
    uri = to_uri(tmp_path / "transactions")
    generate_dataset(uri, DAY, days=1, rows_per_day=50)
    monkeypatch.setattr("ml_pipeline_airflow.runtime.run_context",
                        lambda path: SimpleNamespace(dataset_uri=uri, logical_date=DAY, config_path=path))
    monkeypatch.setattr(validation, "partition_day", lambda: None)
    return tmp_path / "transactions", uri


def test_the_partition_the_sensor_saw_is_returned(dataset):
    _, uri = dataset
    assert validation.landed_partition.function("model.yaml") == f"{uri}/{DAY}"


def test_a_partition_deleted_after_the_sensor_saw_it_fails_at_once_naming_it_and_the_fix(dataset):
    import shutil

    folder, uri = dataset
    shutil.rmtree(folder / DAY.isoformat())
    with pytest.raises(AirflowFailException) as raised:  # not retried: waiting will not bring it back
        validation.landed_partition.function("model.yaml")
    assert isinstance(raised.value.__cause__, DeletedPartitionError)
    assert f"partition {DAY} of dataset {uri} is missing although this run's sensor saw it land" in str(raised.value)
    assert "Restore" in str(raised.value)


def test_before_the_s3_wait_a_day_that_cannot_land_fails_at_once_and_a_day_that_may_is_passed_on(dataset,
                                                                                                monkeypatch):
    from ml_pipeline.data.loader import PartitionOutsideDataError

    _, uri = dataset
    assert validation.check_partition_day.function("model.yaml") == f"{uri}/{DAY}"  # landed
    monkeypatch.setattr(validation, "partition_day", lambda: dt.date(2026, 11, 21))  # not landed: waited for
    assert validation.check_partition_day.function("model.yaml") == f"{uri}/2026-11-21"
    monkeypatch.setattr(validation, "partition_day", lambda: dt.date(2026, 11, 1))  # before the first day: never
    with pytest.raises(AirflowFailException) as raised:
        validation.check_partition_day.function("model.yaml")
    assert isinstance(raised.value.__cause__, PartitionOutsideDataError) and "before the first day" in str(raised.value)
