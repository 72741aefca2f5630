"""``LabelledDataTrigger``: wait on the triggerer until labelled data for a watch window has landed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LabelledDataTrigger(BaseTrigger):
    """Fire once every partition folder in ``uris`` holds parquet files, or when ``deadline`` passes.

    A lake that does not answer is waited out; one that refuses (access denied, a bad URI) fires ``unreadable``
    at once with the error: waiting cannot help, and it says nothing about the model.

    Args:
        uris: Partition folders (any fsspec URI: file://, s3://).
        deadline: ISO timestamp; past it the event says ``timeout`` and which folders are still empty.
        poke_interval: Seconds between checks.
    """

    def __init__(self, uris: list[str], deadline: str, poke_interval: float = 600.0) -> None:
        super().__init__()
        self.uris, self.deadline, self.poke_interval = list(uris), deadline, poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"uris": self.uris, "deadline": self.deadline, "poke_interval": self.poke_interval})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        deadline = dt.datetime.fromisoformat(self.deadline)
        while True:
            try:
                missing = await asyncio.to_thread(missing_or_unreachable, self.uris, self.log)
            except Exception as exc:
                from ml_pipeline.failures.classification import one_line

                self.log.exception("the lake refuses to be read: the watch ends without a verdict")
                yield TriggerEvent({"status": "unreadable", "error": one_line(exc)})
                return
            if not missing:
                yield TriggerEvent({"status": "ready"})
                return
            if dt.datetime.now(dt.UTC) >= deadline:
                yield TriggerEvent({"status": "timeout", "missing": missing})
                return
            self.log.info("waiting for labelled data: %s", ", ".join(missing))
            await asyncio.sleep(self.poke_interval)


def missing_partitions(uris: list[str]) -> list[str]:
    """The folders of ``uris`` without a parquet file (yet), listed afresh (s3fs keeps listings in a process)."""
    from ml_pipeline.data.lake import list_parquet_files

    return [uri for uri in uris if not list_parquet_files(uri)]


def missing_or_unreachable(uris: list[str], log: Any) -> list[str]:
    """``missing_partitions``; all of ``uris`` when the lake does not answer (a hiccup is waited out, not judged).

    Raises:
        Exception: What the lake raised when retrying cannot help (access denied, a bad URI): the watch fails.
    """
    from ml_pipeline.failures.classification import is_transient, one_line

    try:
        return missing_partitions(uris)
    except Exception as exc:
        if not is_transient(exc):
            raise
        log.warning("the lake did not answer (checking again later): %s", one_line(exc))
        return list(uris)
