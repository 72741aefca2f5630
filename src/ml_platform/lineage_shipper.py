"""The lineage shipper: a platform component that moves the tasks' OpenLineage events into the platform database.

``python -m ml_platform.lineage_shipper --events <home>/lineage/events.jsonl``, with the platform database's URL in
``ML_PLATFORM_LINEAGE_DATABASE_URL``. Every ``--interval`` seconds it stores what the tasks appended
(``ml_pipeline.lineage.shipper``); a database that is down is retried with a growing pause (up to 10 s) and costs
nothing but delay. On SIGTERM it ships what is left, then exits. Why the tasks write a file and this process reads it,
instead of each task posting to the receiver: docs/DESIGN.md, "Scheduling at scale".
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ml_pipeline.process_logging import NAMED_FORMAT, configure_logging

log = logging.getLogger("ml_platform.lineage_shipper")
DATABASE_URL_ENV = "ML_PLATFORM_LINEAGE_DATABASE_URL"
INTERVAL_S = 0.5
MAX_PAUSE_S = 10.0


def offset_file(events_file: Path) -> Path:
    """Where the shipper keeps how far ``events_file`` is stored: beside it, ``<name>.shipped``."""
    return events_file.with_name(events_file.name + ".shipped")


def run(events_file: Path, database_url: str, stopped: threading.Event, interval_s: float = INTERVAL_S) -> None:
    """Ship ``events_file`` until ``stopped`` is set, then once more (what was appended meanwhile)."""
    from ml_pipeline.lineage.shipper import EventFileShipper
    from ml_pipeline.lineage.store import LineageStore

    store = LineageStore(database_url)
    shipper = EventFileShipper(events_file, offset_file(events_file), store)
    pause, failing = interval_s, False
    try:
        while True:
            last_pass = stopped.is_set()
            try:
                if shipper.pending_bytes():
                    shipped = shipper.ship()
                    log.debug("stored %d events (%d lines skipped), %s at byte %d", shipped.events,
                              shipped.skipped, events_file, shipped.offset)
                if failing:
                    log.info("the platform database takes lineage events again")
                pause, failing = interval_s, False
            except Exception as exc:  # noqa: BLE001 - the database is down: the offset waits, nothing is lost
                if not failing:
                    log.warning("lineage events wait in %s: the platform database refused them (%s: %s); retrying",
                                events_file, type(exc).__name__, str(exc).splitlines()[0][:300])
                pause, failing = min(pause * 2, MAX_PAUSE_S), True
            if last_pass:
                return
            stopped.wait(pause)
    finally:
        store.engine.dispose()


def main(argv: list[str] | None = None) -> int:
    """Ship the events file into the platform database until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=Path, required=True, help="the file transport's JSON-lines file")
    parser.add_argument("--interval", type=float, default=INTERVAL_S, help="seconds between passes")
    args = parser.parse_args(argv)
    configure_logging(NAMED_FORMAT)
    database_url = os.environ.get(DATABASE_URL_ENV)
    if not database_url:
        print(f"error: set {DATABASE_URL_ENV} to the platform database's SQLAlchemy URL", file=sys.stderr)
        return 2
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    log.info("shipping %s into the platform database every %.1f s", args.events, args.interval)
    run(args.events, database_url, stopped, args.interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
