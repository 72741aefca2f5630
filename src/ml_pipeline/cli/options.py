"""Options that several ``ml-pipeline`` command groups share, defined once."""

from __future__ import annotations

import argparse
import datetime as dt
import os

from ml_pipeline.data import sources

DEFAULT_LAKE = os.environ.get("ML_LAKE_URI", sources.DEFAULT_LAKE)


def add_lake_option(parser: argparse.ArgumentParser, text: str = "lake root URI or folder (env ML_LAKE_URI)") -> None:
    """Add ``--lake``: where the data lake (datasets, run artifacts, quarantine) lives."""
    parser.add_argument("--lake", default=DEFAULT_LAKE, help=text)


def today() -> dt.date:
    """Today's date in UTC: the default ``--date`` and ``--end-date``."""
    return dt.datetime.now(dt.UTC).date()


def uri_map_from_env(lake: str) -> str:
    """The ``ML_DATA_URI_MAP`` setting: by default ``s3://ml-data`` is the local lake."""
    return os.environ.get("ML_DATA_URI_MAP", f"s3://ml-data={lake}")
