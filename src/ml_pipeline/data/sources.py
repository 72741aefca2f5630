"""Where a model's ``data.source`` may point: allowed URI schemes, and local folders only under the data roots.

A config names its data; the platform decides where data may be read from. By default a source is a folder
under the lake root (``ML_LAKE_URI``), a ``file://`` URI or absolute path under it, or an ``s3://`` URI. The
platform widens that with ``ML_DATA_ALLOWED_SCHEMES`` (comma-separated, e.g. ``file,s3,gs``) and
``ML_DATA_ALLOWED_ROOTS`` (local folders or ``file://`` URIs, ``os.pathsep``-separated). Anything else
(``http://169.254.169.254/…``, ``../../etc``, ``file:///etc``) is refused when the config is loaded, so
``ml-pipeline check-config`` and the model's ``config-error`` DAG say so. No data library is imported here.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from ml_pipeline.data.paths import UnsafePathError
from ml_pipeline.data.uris import to_uri

SCHEMES_ENV = "ML_DATA_ALLOWED_SCHEMES"
ROOTS_ENV = "ML_DATA_ALLOWED_ROOTS"
DEFAULT_SCHEMES = ("file", "s3")
DEFAULT_LAKE = ".platform/lake"  # the lake root without ML_LAKE_URI (`ml-pipeline` sets it to the platform's)


def allowed_schemes() -> tuple[str, ...]:
    """URI schemes a source may use: ``ML_DATA_ALLOWED_SCHEMES``, else ``file`` and ``s3``."""
    text = os.environ.get(SCHEMES_ENV, "")
    schemes = tuple(s.strip().lower().removesuffix("://") for s in text.replace(" ", ",").split(",") if s.strip())
    return schemes or DEFAULT_SCHEMES


def allowed_roots(lake_uri: str | None = None, extra: list[str] | None = None) -> list[str]:
    """Local folders (as ``file://`` URIs) a source may read: the lake root, ``ML_DATA_ALLOWED_ROOTS`` and ``extra``."""
    lake = lake_uri or os.environ.get("ML_LAKE_URI") or DEFAULT_LAKE
    listed = [r for r in os.environ.get(ROOTS_ENV, "").split(os.pathsep) if r.strip()]
    roots = [to_uri(r.strip()) for r in [lake, *listed, *(extra or [])]]
    return [r for r in roots if r.startswith("file://")]


def check_source(source: str, lake_uri: str | None = None) -> str:
    """``source`` when a model may read it; else ``UnsafePathError`` saying what is allowed and how to fix it."""
    if not source.strip() or any(ord(c) < 32 for c in source) or "\\" in source:
        raise UnsafePathError(f"{source!r} is not a dataset location (empty, a control character or a '\\'); "
                              "write a folder under the lake root or an s3:// URI with '/' separators")
    scheme, sep, path = source.partition("://")
    if ".." in path.split("/") or ".." in scheme.split("/"):
        raise UnsafePathError(f"{source!r} climbs out of its folder with '..'; name the dataset's folder directly")
    if sep and not path.strip("/"):
        raise UnsafePathError(f"{source!r} names no bucket or folder after '{scheme}://'; write e.g. "
                              f"{scheme}://<bucket>/<dataset>/")
    if "::" in source:
        raise UnsafePathError(f"{source!r} chains fsspec protocols ('::'); write one plain s3:// URI or folder")
    if sep and scheme.lower() not in allowed_schemes():
        raise UnsafePathError(f"scheme '{scheme}://' of {source!r} is not allowed (allowed: "
                              f"{', '.join(allowed_schemes())}); use an s3:// URI or a folder under the lake "
                              f"root, or ask the platform to add the scheme to {SCHEMES_ENV}")
    if (sep and scheme.lower() == "file") or (not sep and source.startswith("/")):
        check_local(source, allowed_roots(lake_uri))
    return source


def check_local(location: str, roots: list[str]) -> str:
    """``location`` (a ``file://`` URI or absolute path) when it lies under one of ``roots``; else refuse it."""
    path = posixpath.normpath(location.partition("://")[2] if "://" in location else location)
    for root in roots:
        top = posixpath.normpath(Path(root.partition("://")[2]).as_posix())
        if path == top or path.startswith(top.rstrip("/") + "/"):
            return location
    where = ", ".join(roots) or "none (the lake is not local)"
    raise UnsafePathError(f"{location!r} is outside the data roots ({where}); write a folder under the lake root "
                          f"(no leading '/'), or ask the platform to add the folder to {ROOTS_ENV}")
