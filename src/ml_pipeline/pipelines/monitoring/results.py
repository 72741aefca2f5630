"""What the monitoring steps hand each other (through XCom): small, JSON-able, references to data not data."""

from __future__ import annotations

from typing import Any, TypedDict


class Reference(TypedDict):
    """``load_reference``: the champion and where its reference profile (computed once per version) is cached."""

    model: str
    version: str
    snapshot_uri: str
    profile_uri: str
    trained_through: str
    holdout_auc: float | None


class CheckResult(TypedDict):
    """``check_window``: the window judged and every verdict on it (``status`` ``skipped`` with its ``reason``)."""

    model: str
    version: str
    status: str
    reason: str
    cause: str | None
    window_start: str | None
    window_end: str | None
    fingerprint: str | None
    rows: int
    drift: dict[str, Any]
    predictions: dict[str, Any]
    target: dict[str, Any]
    live: dict[str, Any]


class RecordedCheck(TypedDict):
    """``record_check``: the stored check, its report, and whether a retraining is requested (or why not)."""

    check_id: int
    model: str
    version: str
    status: str
    reason: str
    cause: str | None
    retrain_requested: bool
    retrain_note: str
    window_end: str | None
    report_uri: str | None
    report_url: str | None
    top_features: list[dict[str, Any]]
    live: dict[str, Any]
    previous: dict[str, Any] | None  # the check that judged data before: check_id, status, reason, version
    recovered: bool  # stable now, warn or alert before: announced as a recovery
