"""Options that several ``ml-pipeline`` command groups share, defined once."""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
from pathlib import Path

from ml_pipeline.data import sources


def add_lake_option(parser: argparse.ArgumentParser, text: str = "lake root URI or folder (env ML_LAKE_URI)") -> None:
    """Add ``--lake``: where the data lake (datasets, run artifacts, quarantine) lives.

    The default is read as the parser is built, so that ``ml-pipeline`` (which sets ``ML_LAKE_URI`` to the
    platform's lake when the shell does not) finds the platform's data from any folder.
    """
    parser.add_argument("--lake", default=os.environ.get("ML_LAKE_URI", sources.DEFAULT_LAKE), help=text)


DEFAULT_TRACKING_URI = "http://127.0.0.1:5000"
"""The MLflow server ``make up`` starts."""


def add_tracking_uri_option(parser: argparse.ArgumentParser, text: str = "the MLflow server (env MLFLOW_TRACKING_URI)"
                            ) -> None:
    """Add ``--tracking-uri``: the MLflow server (or database) to read and write, checked as it is parsed."""
    parser.add_argument("--tracking-uri", type=tracking_uri,
                        default=os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI, help=text)


UNITY_CATALOG = ("databricks-uc", "uc")
"""Registry URIs MLflow refuses for tracking (``Detected Unity Catalog tracking URI``)."""


def tracking_uri(text: str) -> str:
    """An argparse type: an MLflow tracking URI, refused before the command reads any data when it cannot be one.

    A server (``http(s)://host…``, ``databricks``) or a database (``sqlite:///…``, ``postgresql+psycopg://…``); a
    folder (a bare path or ``file:``) only with ``MLFLOW_ALLOW_FILE_STORE=true``, as MLflow 3 itself refuses its
    file store without it, but only after the command has read and validated the data. ``localhost:5000``
    (``http://`` forgotten) and a Unity Catalog registry are refused with the fix; another scheme is left to MLflow
    (a plugin may register its own store).
    """
    import re
    from urllib.parse import urlsplit

    fix = (f"give the MLflow server's address (e.g. {DEFAULT_TRACKING_URI}, what `make up` starts) or a database "
           "(e.g. sqlite:///mlflow.db), in --tracking-uri or MLFLOW_TRACKING_URI")
    if text == "databricks":
        return text
    parts = urlsplit(text)
    scheme = parts.scheme.lower() if len(parts.scheme) > 1 else ""  # "C:\mlruns" is a path, not a scheme
    if scheme in ("http", "https") and not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} names no host: {fix}")
    if text in UNITY_CATALOG or scheme in UNITY_CATALOG:
        raise argparse.ArgumentTypeError(f"{text!r} is a Unity Catalog registry, which MLflow refuses as a tracking "
                                         "URI: --tracking-uri databricks with MLFLOW_REGISTRY_URI=databricks-uc; or "
                                         f"{fix}")
    host_port = re.fullmatch(r"[\w.-]{2,}:\d+([/?#].*)?", text)  # urlsplit reads the host as a scheme
    if host_port and scheme not in ("file", "sqlite", "mysql", "postgresql", "mssql"):
        raise argparse.ArgumentTypeError(f"{text!r} has no scheme: did you mean 'http://{text}'? ({fix})")
    if scheme not in ("", "file"):
        return text
    if not text.strip():
        raise argparse.ArgumentTypeError(f"the tracking URI is empty: {fix}")
    if os.environ.get("MLFLOW_ALLOW_FILE_STORE", "").lower() not in ("true", "1"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a folder, and MLflow 3 refuses a folder as its store (set MLFLOW_ALLOW_FILE_STORE=true to "
            f"use one anyway): {fix}")
    return text


def missing_lake(lake: str) -> str | None:
    """Why ``--lake`` cannot be the lake (a local folder that does not exist), or None; remote lakes are not checked."""
    scheme, sep, path = lake.partition("://")
    folder = Path(path if sep else lake)
    if (not sep or scheme == "file") and not folder.is_dir():
        return f"no lake at {lake}: --lake (or ML_LAKE_URI) names the lake folder (or an s3:// URI)"
    return None


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is below 1")
    return value


def tolerance(text: str) -> float:
    """An argparse type: a finite number of at least 0 (an absolute difference allowed)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} is no tolerance: give 0 (exact) or a positive number, e.g. 1e-9")
    return value


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    port = positive_int(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port: 1 to 65535")
    return port


REASON_CHARS = 400  # a deployment run's `reason` takes 500, with " (by <user>)" added


def reason_text(text: str) -> str:
    """An argparse type: a reason kept in a record, so not empty, and at most ``REASON_CHARS`` characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError("say why: the reason is kept in the record")
    if len(text) > REASON_CHARS:
        raise argparse.ArgumentTypeError(f"{len(text)} characters: say it in at most {REASON_CHARS}")
    return text


def version_number(text: str) -> str:
    """An argparse type: a registered model's version (1, 2, …), kept as the string MLflow uses."""
    try:
        return str(positive_int(text))
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a model version: MLflow numbers them 1, 2, …") from None


def iso_date(text: str) -> dt.date:
    """An argparse type: a date written YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: write YYYY-MM-DD, e.g. 2026-11-20") from None


def today() -> dt.date:
    """Today's date in UTC: the default ``--date`` and ``--end-date``."""
    return dt.datetime.now(dt.UTC).date()


def uri_map_from_env(lake: str) -> str:
    """The ``ML_DATA_URI_MAP`` setting: by default ``s3://ml-data`` is the local lake."""
    return os.environ.get("ML_DATA_URI_MAP", f"s3://ml-data={lake}")
