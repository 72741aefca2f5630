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
])
def test_an_error_event_is_retried_unless_the_store_refused_for_good(message, transient):
    sensor = S3DataSensor(task_id="wait", prefix="transactions/2026-11-20/", bucket_name="ml-data")
    with pytest.raises(TransientError if transient else PermanentError) as raised:
        sensor.execute_complete({}, {"status": "error", "message": message})
    assert is_transient(raised.value) is transient  # what the tasks' retry policy reads
    assert "s3://ml-data/transactions/2026-11-20/" in str(raised.value) and message in str(raised.value)
