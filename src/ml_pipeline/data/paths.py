"""Path components built from data: ``data.partition_by`` values checked, and joins that stay under their root.

A ``partition_by`` value comes from the data itself and becomes a folder name (``<column>=<value>``) in the
lake: the validation report's folder, the run's snapshot and feature folders. A value that could climb out of
its folder (``../x``, ``a/b``) is refused here, with the column and the fix, before any path is built from it.
No data library is imported: config checks use this module too.
"""

from __future__ import annotations

import posixpath

from ml_pipeline.errors import PermanentError

UNSAFE_CHARACTERS = ("/", "\\", "\x00")


class UnsafePathError(PermanentError, ValueError):
    """A value that would become a path component could leave its folder (``..``, a slash or backslash, NUL, empty)."""


def path_problem(text: str) -> str | None:
    """Why ``text`` cannot be one path component (a folder or file name), or None when it can."""
    if text == "":
        return "it is empty"
    bad = [repr(c) for c in UNSAFE_CHARACTERS if c in text]
    if bad:
        return f"it contains {', '.join(bad)}"
    if text in (".", ".."):  # one component without a slash can only climb as "..": "a..b" is a plain name
        return f"it is {text!r}"
    if any(ord(c) < 32 for c in text):
        return "it contains a control character"
    return None


def check_partition_value(value: str, column: str | None) -> str:
    """``value`` when it can name a ``<column>=<value>`` folder; else ``UnsafePathError`` naming value and column."""
    problem = path_problem(value)
    if problem is not None:
        raise UnsafePathError(
            f"partition value {value!r} of column {column!r} (data.partition_by) cannot name a folder: {problem}. "
            "Clean that column's values at the source (no '/', '\\', NUL, '.', '..' or empty strings), or set "
            "data.partition_by to a column with such values.")
    return value


def check_partition_column(column: str | None) -> str | None:
    """``column`` (``data.partition_by``) when ``<column>=<value>`` folders can be named after it, else ValueError."""
    problem = path_problem(column) if column is not None else None
    if problem is None and column is not None and "=" in column:
        problem = "it contains '='"
    if problem:
        raise UnsafePathError(f"{column!r} cannot name the <column>=<value> folders of its slices: {problem}; "
                              "partition by a column with a plain name")
    return column


def partition_segment(column: str, value: str) -> str:
    """The folder of one ``partition_by`` slice, ``<column>=<value>``, once both are checked."""
    check_partition_value(value, column)
    return f"{column}={value}"


def join_under(root: str, *parts: str) -> str:
    """``root`` joined with ``parts`` (URIs or paths, ``/``-separated); ``UnsafePathError`` if it leaves ``root``.

    Normalizing the joined path (``a/../..``) must leave it at or below ``root``: the last guard before a
    path built from data or config is written to.
    """
    joined = "/".join([root.rstrip("/")] + [p.strip("/") for p in parts if p])
    inside, top = _normal(joined), _normal(root)
    if inside != top and not inside.startswith(top.rstrip("/") + "/"):
        raise UnsafePathError(f"{joined} leaves its folder {root}: a part climbs out with '..'. "
                              "Remove '..' from the value it was built from.")
    return joined


def _normal(location: str) -> str:
    """The path of ``location`` (a URI's part after ``://``), with ``.`` and ``..`` resolved."""
    path = location.partition("://")[2] if "://" in location else location
    return posixpath.normpath(path) if path else "/"
