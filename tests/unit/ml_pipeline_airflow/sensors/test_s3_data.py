"""What ``S3DataSensor`` does with its trigger's error event: a store that did not answer is retried."""

import pytest

from ml_pipeline.errors import PermanentError, TransientError
from ml_pipeline.failures.classification import is_transient
from ml_pipeline_airflow.sensors.s3_data import S3DataSensor


@pytest.mark.parametrize(("message", "transient"), [
    ('Could not connect to the endpoint URL: "http://minio:9000/ml-data"', True),
    ("An error occurred (SlowDown) when calling the ListObjectsV2 operation: Please reduce your request rate", True),
    ("An error occurred (AccessDenied) when calling the ListObjectsV2 operation: Access Denied", False),
    ("An error occurred (NoSuchBucket) when calling the ListObjectsV2 operation: The bucket does not exist", False),
    ("NoCredentialsError: Unable to locate credentials", False),
    ("PartialCredentialsError: Partial credentials found in env, missing: AWS_SECRET_ACCESS_KEY", False),
    ('Could not connect to the endpoint URL: "http://ml-403-data.minio:9000/"', True),  # a 403 in a name: no verdict
])
def test_an_error_event_is_retried_unless_the_store_refused_for_good(message, transient):
    sensor = S3DataSensor(task_id="wait", prefix="transactions/2026-11-20/", bucket_name="ml-data")
    with pytest.raises(TransientError if transient else PermanentError) as raised:
        sensor.execute_complete({}, {"status": "error", "message": message})
    assert is_transient(raised.value) is transient  # what the tasks' retry policy reads
    assert "s3://ml-data/transactions/2026-11-20/" in str(raised.value) and message in str(raised.value)


def test_the_check_on_the_worker_is_classified_as_the_triggers(monkeypatch):
    """Before it defers, the sensor checks once on the worker: a store that refuses the connection there is retried,
    not a bare botocore error that failed the task at once."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({  # a real S3 client; nothing listens on port 9
        "conn_type": "aws", "login": "x", "password": "y", "extra": {
            "endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1",
            "config_kwargs": {"retries": {"max_attempts": 1}}}}))
    sensor = S3DataSensor(task_id="wait", prefix="transactions/2026-11-20/", bucket_name="ml-data")
    with pytest.raises(TransientError, match="s3://ml-data/transactions/2026-11-20/: the store answered "
                                             "EndpointConnectionError") as raised:
        sensor.poke({})
    assert is_transient(raised.value)


def test_a_failure_that_is_not_the_stores_answer_is_left_as_it_is(monkeypatch):
    """A key the provider refuses before any request (a full s3:// URI beside a bucket) is no store hiccup: it is
    raised as it was, not retried as TransientError."""
    import json

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({"conn_type": "aws", "login": "x", "password": "y"}))
    sensor = S3DataSensor(task_id="wait", prefix="s3://other-bucket/transactions/2026-11-20/", bucket_name="ml-data")
    with pytest.raises(Exception) as raised:
        sensor.poke({})
    assert not isinstance(raised.value, TransientError | PermanentError), raised.value
