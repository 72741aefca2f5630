"""``S3DataSensor``: wait for a raw-data partition on S3 that is big enough and fresh, on the triggerer."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferralTimeout

PERMANENT_S3_ERRORS = re.compile(r"AccessDenied|NoSuchBucket|InvalidAccessKeyId|SignatureDoesNotMatch|InvalidBucketName"
                                 r"|Invalid bucket name|Forbidden|Unable to locate credentials|NoCredentialsError"
                                 r"|PartialCredentialsError|Partial credentials found")
"""What the store answers when retrying cannot help: refused access, a bucket that does not exist."""


class S3DataSensor(S3KeySensor):
    """Wait until ``s3://<bucket>/<prefix>*.parquet`` holds at least ``min_size_mb``, written within ``max_age_hours``.

    Deferrable by default: between checks the wait lives on the triggerer (the Amazon provider's
    ``S3KeyTrigger``), so fifty waiting runs hold no worker slot. When ``timeout`` passes, the task fails
    with what was missing (no files, too little data, or only old files) and after how long.

    Args:
        prefix: The partition's key prefix, e.g. ``transactions/2026-11-20/`` (templated).
        bucket_name: The bucket (templated).
        min_size_mb: The partition's files must add up to at least this many MB.
        max_age_hours: The newest file must be at most this old.
        pattern: File name pattern under the prefix.
    """

    template_fields: Sequence[str] = (*S3KeySensor.template_fields, "prefix")
    ui_color = "#c8e6f5"

    def __init__(self, *, prefix: str, bucket_name: str, min_size_mb: float = 0.0, max_age_hours: float | None = None,
                 pattern: str = "*.parquet", deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(bucket_key=f"{prefix.rstrip('/')}/{pattern}", bucket_name=bucket_name, wildcard_match=True,
                         check_fn=self._enough_fresh_data, deferrable=deferrable,
                         metadata_keys=["Key", "Size", "LastModified"], **kwargs)
        self.prefix = prefix
        self.min_size_mb = min_size_mb
        self.max_age_hours = max_age_hours

    def _enough_fresh_data(self, files: list[dict], **_: Any) -> bool:
        """Whether the matching files are big and fresh enough (logs what is still missing)."""
        verdict = self._missing(files)
        if verdict:
            self.log.info("s3://%s/%s not ready: %s", self.bucket_name, self.prefix, verdict)
        return verdict is None

    def _missing(self, files: list[dict]) -> str | None:
        if not files:
            return "no files"
        size_mb = sum(f.get("Size") or 0 for f in files) / 2**20
        if size_mb < self.min_size_mb:
            return f"{len(files)} file(s), {size_mb:.2f} MB < min_size_mb {self.min_size_mb:g}"
        if self.max_age_hours is not None:
            newest = max(_as_datetime(f.get("LastModified")) for f in files)
            age_h = (dt.datetime.now(dt.UTC) - newest).total_seconds() / 3600
            if age_h > self.max_age_hours:
                return f"newest file is {age_h:.1f} h old > max_age_hours {self.max_age_hours:g}"
        return None

    def execute_complete(self, context: Any, event: dict[str, Any]) -> None:
        """The trigger's event; its ``error`` (any exception the store raised) classified, never a bare failure.

        The provider raises a bare ``AirflowException``, which fails the task at once: a store that restarted while
        the partition was awaited would need a replay by hand. Access refused, missing credentials or a bucket that
        does not exist cannot heal (``PermanentError``); anything else is retried with backoff (``TransientError``).
        """
        if event.get("status") != "error":
            return super().execute_complete(context, event)
        raise self._classified(str(event.get("message")))

    def poke(self, context: Any) -> bool:
        """The check on the worker (before deferring, or in poke mode), its failure classified as the trigger's."""
        from ml_pipeline.failures.classification import is_transient

        try:
            return super().poke(context)
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"
            if is_transient(exc) or PERMANENT_S3_ERRORS.search(message):
                raise self._classified(message) from exc
            raise  # not the store's answer (a bug, a bad key): as it is

    def _classified(self, message: str) -> Exception:
        from ml_pipeline.errors import PermanentError, TransientError

        said = f"s3://{self.bucket_name}/{self.prefix}: the store answered {message}"
        if PERMANENT_S3_ERRORS.search(message):
            return PermanentError(f"{said}: check the bucket name and this deployment's S3 credentials")
        return TransientError(f"{said} while the sensor waited: retried")

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except (TaskDeferralTimeout, AirflowSensorTimeout) as exc:
            raise AirflowSensorTimeout(self._timeout_message()) from exc

    def execute(self, context: Any) -> None:
        try:
            super().execute(context)
        except AirflowSensorTimeout as exc:
            raise AirflowSensorTimeout(self._timeout_message()) from exc

    def _timeout_message(self) -> str:
        """What was still missing when the sensor gave up, and after how long."""
        try:
            files = [{"Size": f.get("Size"), "LastModified": f.get("LastModified")}
                     for f in self.hook.iter_file_metadata(self.prefix.rstrip("/") + "/", self.bucket_name)
                     if f["Key"].endswith(self.bucket_key.rsplit("*", 1)[-1])]
            missing = self._missing(files) or "the data arrived just now"
        except Exception as exc:  # the store itself is unreachable
            missing = f"could not list the prefix ({exc})"
        return (f"s3://{self.bucket_name}/{self.prefix}: gave up after {self.timeout:g} s waiting for ≥ "
                f"{self.min_size_mb:g} MB of {self.bucket_key.rsplit('/', 1)[-1]}"
                + (f" newer than {self.max_age_hours:g} h" if self.max_age_hours is not None else "")
                + f"; still missing: {missing}")


def _as_datetime(value: Any) -> dt.datetime:
    """S3's LastModified, as returned by boto3 (datetime) or after the trigger's JSON round trip (string)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return dt.datetime.min.replace(tzinfo=dt.UTC)
