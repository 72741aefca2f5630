"""What a run reads from the asset events that started it, checked: ``days``, ``trigger`` and ``version``.

Our own tasks write these extras (a feature run's summary, a retraining request, a registration); an event posted
by hand (the REST API, the UI) may hold anything. A field of the wrong shape fails the run at once
(``AssetEventError``, permanent), naming the asset, the field and what it must be, instead of a ``TypeError`` deep
in a task, or a deployment of the ``challenger`` alias instead of the version the event meant.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from ml_pipeline.errors import PermanentError
from ml_pipeline.registry import VERSION_PATTERN

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
CAUSE = re.compile(r"[a-z][a-z0-9_]{0,39}")
VERSION = re.compile(VERSION_PATTERN)


class AssetEventError(PermanentError, ValueError):
    """An asset event that started the run holds a field of the wrong shape."""


def event_days(context: Any) -> list[dt.date]:
    """The days the triggering events name (``days``: a list of ``YYYY-MM-DD``), in event order."""
    days: list[dt.date] = []
    for asset, extra in _extras(context):
        value = extra.get("days")
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(day, str) and DAY.fullmatch(day) for day in value):
            _refuse(asset, "days", value, "a list of days written YYYY-MM-DD")
        try:
            days += [dt.date.fromisoformat(day) for day in value]
        except ValueError:
            _refuse(asset, "days", value, "a list of real days written YYYY-MM-DD")
    return days


def event_causes(context: Any) -> list[str]:
    """The causes the triggering events name (``trigger``: ``drift``, ``decay``, …), sorted, each once."""
    causes = set()
    for asset, extra in _extras(context):
        value = extra.get("trigger")
        if value is None:
            continue
        if not isinstance(value, str) or not CAUSE.fullmatch(value):
            _refuse(asset, "trigger", value, "one lower-case word, such as drift or decay")
        causes.add(value)
    return sorted(causes)


def event_versions(context: Any) -> list[str]:
    """The model versions the triggering events name (``version``: 1, 2, … as a number or a string)."""
    versions = []
    for asset, extra in _extras(context):
        misspelt = [key for key in extra if key != "version" and key.strip().lower() == "version"]
        if misspelt:
            _refuse(asset, repr(misspelt[0]), extra[misspelt[0]], "written 'version' (it would deploy the alias)")
        value = extra.get("version")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | str) or not VERSION.fullmatch(str(value)):
            _refuse(asset, "version", value, "a registered version number (1, 2, …)")
        versions.append(str(value))
    return versions


def _extras(context: Any) -> list[tuple[str, dict]]:
    """Each triggering event's ``extra`` (``{}`` when it has none), with the name of its asset."""
    extras = []
    for asset, events in (context.get("triggering_asset_events") or {}).items():
        name = getattr(asset, "name", None) or getattr(asset, "uri", None) or str(asset)
        for event in events:
            extra = event.extra or {}
            if not isinstance(extra, dict):
                _refuse(name, "extra", extra, "an object of named fields")
            extras.append((name, extra))
    return extras


def _refuse(asset: str, field: str, value: Any, must: str) -> None:
    shown = repr(value) if len(repr(value)) <= 80 else f"{repr(value)[:77]}..."
    raise AssetEventError(f"an asset event of {asset} has {field} = {shown}: {field} must be {must}. Post the event "
                          "again with that field right, or without it (nothing was done).")
