"""URIs of the lake (``file://``, ``s3://``): pure string helpers, no data library (DAG files use them)."""

from __future__ import annotations

from pathlib import Path


def to_uri(location: str | Path) -> str:
    """Return ``location`` as a URI, turning a bare local path into ``file://``."""
    text = str(location)
    if "://" in text:
        return text.rstrip("/")
    return Path(text).expanduser().resolve().as_uri()


def parse_uri_map(text: str | None) -> dict[str, str]:
    """Parse ``"s3://ml-data=file:///lake,gs://b=…"`` into a prefix map (the environment's setting)."""
    pairs = [item.split("=", 1) for item in (text or "").split(",") if item.strip()]
    bad = [item for item in pairs if len(item) != 2 or "://" not in item[0]]
    if bad:
        raise ValueError(f"ML_DATA_URI_MAP: expected 'scheme://prefix=uri' pairs separated by commas, got {text!r}")
    return {prefix.strip().rstrip("/"): target.strip().rstrip("/") for prefix, target in pairs}


def resolve_uri(uri: str, uri_map: dict[str, str]) -> str:
    """Rewrite ``uri`` through the longest matching prefix of ``uri_map`` (unchanged when none matches)."""
    uri = uri.rstrip("/")
    for prefix in sorted(uri_map, key=len, reverse=True):
        if uri == prefix or uri.startswith(prefix + "/"):
            return uri_map[prefix] + uri[len(prefix):]
    return uri


def join_uri(base: str, *parts: str) -> str:
    """Join URI path segments with single slashes."""
    cleaned = [base.rstrip("/")] + [p.strip("/") for p in parts if p]
    return "/".join(cleaned)


def source_uri(source: str, lake_uri: str, uri_map: dict[str, str]) -> str:
    """Where a model's ``data.source`` lives: through the URI map when it is a URI, else under the lake.

    An absolute path is a local folder. A local result must lie under the lake, a URI map target or
    ``ML_DATA_ALLOWED_ROOTS`` (``UnsafePathError`` otherwise): the config check's rule, enforced where it is read.
    """
    if "://" in source:
        uri = resolve_uri(source, uri_map)
    else:
        uri = to_uri(source) if source.startswith("/") else join_uri(lake_uri, source)
    if uri.startswith("file://"):
        from ml_pipeline.data.sources import allowed_roots, check_local

        check_local(uri, allowed_roots(lake_uri or None, list(uri_map.values())))
    return uri
