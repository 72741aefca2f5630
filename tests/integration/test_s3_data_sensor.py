"""``S3DataSensor`` against a real S3-compatible HTTP server (moto's server mode).

``dag.test()`` runs a deferred task's trigger inline but never times it out, so the data that is there is awaited
deferrably, and the give-up messages are checked in poke mode (same checks) and through the deferral-timeout path.
"""

import json
import subprocess
import sys

import boto3
import pytest

from tests.support.services import moto_s3

pytestmark = pytest.mark.integration
SCENARIOS = """
import datetime as dt, json
from airflow.sdk import DAG
from ml_pipeline_airflow.sensors.s3_data import S3DataSensor

with DAG("s3_sensor_check", schedule=None) as dag:
    common = dict(bucket_name="ml-data", poke_interval=1, timeout=4, retries=0)
    ready = S3DataSensor(task_id="ready", prefix="transactions/2026-11-20/", min_size_mb=0.1, max_age_hours=1,
                         **{**common, "timeout": 120})
    ready >> S3DataSensor(task_id="missing", prefix="transactions/2026-11-21/", deferrable=False, **common)
    ready >> S3DataSensor(task_id="too_small", prefix="transactions/2026-11-19/", min_size_mb=0.1, deferrable=False,
                          **common)
if __name__ == "__main__":
    run = dag.test()
    print("RESULT " + json.dumps({ti.task_id: ti.state for ti in run.get_task_instances()}))
"""


@pytest.fixture(scope="module")
def s3_server():
    with moto_s3() as url:
        yield url


def test_sensor_waits_on_the_triggerer_and_says_what_was_missing(services, s3_server, tmp_path):
    _, env = services
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="ml-data")
    s3.put_object(Bucket="ml-data", Key="transactions/2026-11-19/part-00000.parquet", Body=b"x" * 1_000)
    connection = {"conn_type": "aws", "login": "test", "password": "test",
                  "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}
    dag_file = tmp_path / "s3_sensor_check.py"  # dag.test serializes the DAG from its file
    dag_file.write_text(SCENARIOS)
    process = subprocess.Popen([sys.executable, str(dag_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env={**env, "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
                                               "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path)})
    lines = []
    for line in process.stdout:  # the partition lands only once the sensor waits on its trigger
        lines.append(line)
        if "[DAG TEST] running trigger in line" in line and len(lines) and not s3.list_objects_v2(
                Bucket="ml-data", Prefix="transactions/2026-11-20/").get("KeyCount"):
            for part in range(2):
                s3.put_object(Bucket="ml-data", Key=f"transactions/2026-11-20/part-0000{part}.parquet",
                              Body=b"x" * 80_000)
    process.wait(timeout=300)
    result = subprocess.CompletedProcess(process.args, process.returncode, "".join(lines), "")
    output = result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-4000:]
    assert json.loads(lines[-1][7:]) == {"ready": "success", "missing": "failed", "too_small": "failed"}
    assert "[DAG TEST] running trigger in line" in output, "the ready sensor must wait on the triggerer"
    assert ("s3://ml-data/transactions/2026-11-21/: gave up after 4 s waiting for ≥ 0 MB of *.parquet; "
            "still missing: no files") in output
    assert "still missing: 1 file(s), 0.00 MB < min_size_mb 0.1" in output


def test_a_deferred_wait_that_times_out_says_what_was_missing(s3_server, monkeypatch):
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from ml_pipeline_airflow.sensors.s3_data import S3DataSensor

    connection = {"conn_type": "aws", "login": "test", "password": "test",
                  "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                 region_name="us-east-1").create_bucket(Bucket="late-data")
    sensor = S3DataSensor(task_id="late", bucket_name="late-data", prefix="clicks/2026-11-20/", timeout=3600,
                          max_age_hours=2)
    assert sensor.deferrable
    with pytest.raises(AirflowSensorTimeout, match=r"s3://late-data/clicks/2026-11-20/: gave up after 3600 s .* "
                                                   r"newer than 2 h; still missing: no files"):
        sensor.resume_execution("__fail__", {"error": "Trigger timeout"}, {})


VALIDATION_ON_S3 = """
import datetime as dt, json
from ml_pipeline_airflow.dag_kinds import VALIDATION, build_dags

dag = build_dags(VALIDATION)["data_validation_fraud_detection"]
dag.deadline = None  # dag.test() of Airflow 3.3.2 crashes on DeadlineAlerts (docs/TROUBLESHOOTING.md)
if __name__ == "__main__":
    run = dag.test(logical_date=dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC))
    print("RESULT " + json.dumps({ti.task_id: ti.state for ti in run.get_task_instances()}))
"""


def test_the_validation_dag_waits_for_and_validates_a_partition_on_s3(services, s3_server, tmp_path):
    """With the data on S3 (the URI map points the config's bucket at another bucket, not a local folder), the
    validation DAG waits with ``S3DataSensor`` (deferred) and validates the partition through the same ``s3://``
    reads production uses (s3fs): the report lands next to the data."""
    from ml_pipeline.config import config_dir
    from ml_pipeline.data.generator import generate_day

    _, env = services
    s3 = boto3.client("s3", endpoint_url=s3_server, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    s3.create_bucket(Bucket="landing")  # the config's s3://ml-data, mapped to this deployment's bucket
    import datetime as dt
    import io

    def land(day: dt.date) -> None:
        body = io.BytesIO()
        generate_day(day, 3_000).write_parquet(body)
        s3.put_object(Bucket="landing", Key=f"transactions/{day}/part-00000.parquet", Body=body.getvalue())

    for offset in (1, 2):  # earlier days (the volume rule compares with them); the run's own day lands later
        land(dt.date(2026, 11, 20) - dt.timedelta(days=offset))
    connection = {"conn_type": "aws", "login": "test", "password": "test",
                  "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"}}
    configs = tmp_path / "configs"
    configs.mkdir()
    raw = (config_dir() / "fraud_detection.yaml").read_text()
    (configs / "fraud_detection.yaml").write_text(raw.replace("data:\n", "data:\n  poke_interval_seconds: 2\n", 1))
    dag_file = tmp_path / "validation_on_s3.py"
    dag_file.write_text(VALIDATION_ON_S3)
    run_env = {**env, "ML_DATA_URI_MAP": "s3://ml-data=s3://landing"}
    run_env.update({"AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection), "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path),
                    "AWS_ENDPOINT_URL": s3_server, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                    "AWS_DEFAULT_REGION": "us-east-1", "ML_LAKE_URI": (tmp_path / "lake").as_uri(),
                    "ML_PIPELINE_CONFIG_DIR": str(configs), "ML_PIPELINE_RULES_DIR": str(config_dir().parent)})
    process = subprocess.Popen([sys.executable, str(dag_file)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=run_env)
    seen = []
    for line in process.stdout:  # the day lands only once the sensor waits on its trigger
        seen.append(line)
        if "[DAG TEST] running trigger in line" in line and len(seen) < 10**6 and not s3.list_objects_v2(
                Bucket="landing", Prefix="transactions/2026-11-20/").get("KeyCount"):
            land(dt.date(2026, 11, 20))
    process.wait(timeout=600)
    output = "".join(seen)
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert lines, output[-4000:]
    assert json.loads(lines[-1][7:]) == {"check_partition_day": "success", "wait_for_partition": "success",
                                         "landed_partition": "success",
                                         "list_partition_values": "success", "validate_partition": "success"}, output[
        -8000:]
    assert "[DAG TEST] running trigger in line" in output, "the S3 wait must run on the triggerer"
    report = s3.get_object(Bucket="landing", Key="transactions/2026-11-20/_validation/fraud_detection/report.json")
    assert json.loads(report["Body"].read())["status"] in ("passed", "warning")
