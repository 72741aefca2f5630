"""``LabelledDataTrigger``: wait on the triggerer until labelled data for a watch window has landed."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class LabelledDataTrigger(BaseTrigger):
    """Fire once every partition folder in ``uris`` holds parquet files, or when ``deadline`` passes.

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
            missing = await asyncio.to_thread(missing_partitions, self.uris)
            if not missing:
                yield TriggerEvent({"status": "ready"})
                return
            if dt.datetime.now(dt.UTC) >= deadline:
                yield TriggerEvent({"status": "timeout", "missing": missing})
                return
            self.log.info("waiting for labelled data: %s", ", ".join(missing))
            await asyncio.sleep(self.poke_interval)


def missing_partitions(uris: list[str]) -> list[str]:
    """The folders of ``uris`` without a parquet file (yet)."""
    import fsspec

    missing = []
    for uri in uris:
        fs, path = fsspec.core.url_to_fs(uri)
        if not fs.exists(path) or not fs.glob(f"{path.rstrip('/')}/*.parquet"):
            missing.append(uri)
    return missing
