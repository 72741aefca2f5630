"""Quarantine: partitions that failed an ``error`` rule, kept out of training until fixed or released.

Entries are small JSON files under ``<lake>/quarantine/<model>/`` (nothing in the data
itself is touched or deleted). An entry names the exact data that failed by its
fingerprint: when the files change (the data was fixed) the partition is
validated afresh, and a release applies only to the data a person looked at.
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
import logging
import re

import fsspec

from ml_pipeline.data.lake import join_uri
from ml_pipeline.errors import PermanentError
from ml_pipeline.validation.report import ValidationReport

QUARANTINED, RELEASED, RESOLVED = "quarantined", "released", "resolved"
# Failed rules that leave data training cannot read (a file, a column, numbers or times as text): a release would
# only move the failure into training. An integer amount where a float is expected trains: that one may be released.
UNUSABLE = re.compile(r"\bschema\.(?:readable\b|required:(?P<missing>\S+)|dtype:(?P<typed>\S+) expected (?:int|float|"
                      r"numeric|datetime|date), actual dtype=(?:String|Boolean|Binary|Categorical|Enum|Null|List|Struct"
                      r"|Object))")
log = logging.getLogger(__name__)


class QuarantineError(PermanentError, LookupError):
    """No quarantine entry matches what was asked for."""


class QuarantineStore:
    """Quarantine entries of every model, kept in the lake."""

    def __init__(self, lake_uri: str) -> None:
        self.root = join_uri(lake_uri, "quarantine")

    def entry_id(self, data_uri: str, scope: str | None) -> str:
        """A readable, stable id: the partition's last path part, its scope, and a short hash."""
        name = re.sub(r"[^A-Za-z0-9._=-]", "_", "__".join(filter(None, [data_uri.rstrip("/").rsplit("/", 1)[-1],
                                                                          scope])))
        return f"{name}__{hashlib.sha256(f'{data_uri}|{scope}'.encode()).hexdigest()[:8]}"

    def get(self, model: str, data_uri: str, scope: str | None) -> dict | None:
        """The entry of one partition of one model, if any."""
        return self._read(self._uri(model, self.entry_id(data_uri, scope)))

    def release_for(self, report: ValidationReport) -> dict | None:
        """The release that covers exactly this data (same fingerprint), if a person gave one."""
        entry = self.get(report.model, report.data_uri, report.scope)
        if entry and entry["status"] == RELEASED and entry["release"]["fingerprint"] == report.fingerprint:
            return entry["release"]
        return None

    def record(self, report: ValidationReport) -> dict | None:
        """Quarantine a blocking partition; mark an entry resolved once its partition passes."""
        entry_id = self.entry_id(report.data_uri, report.scope)
        entry = self.get(report.model, report.data_uri, report.scope)
        now = _now()
        if report.blocking and entry is not None and entry["status"] == RELEASED and \
                entry["release"]["fingerprint"] == report.fingerprint:
            return entry  # released while this validation ran: the person's decision stands
        if report.blocking:
            same = entry is not None and entry["status"] == QUARANTINED and entry["fingerprint"] == report.fingerprint
            entry = {"id": entry_id, "model": report.model, "data_uri": report.data_uri, "scope": report.scope,
                     "status": QUARANTINED, "fingerprint": report.fingerprint,
                     "quarantined_at": entry["quarantined_at"] if same else now, "last_checked_at": now,
                     "report_uri": report.report_uri, "failures": [c.line() for c in report.errors], "release": None}
        elif entry is not None and entry["status"] != RESOLVED and report.status != "released":
            entry = {**entry, "status": RESOLVED, "resolved_at": now, "report_uri": report.report_uri}
        else:
            return entry
        self._write(self._uri(report.model, entry_id), entry)
        return entry

    def list(self, model: str | None = None, everything: bool = False) -> list[dict]:
        """Entries (by default only those still quarantined), oldest first."""
        fs, root = fsspec.core.url_to_fs(self.root)
        pattern = f"{root}/{model or '*'}/*.json"
        entries = [entry for path in sorted(fs.glob(pattern)) if (entry := _entry(fs, path)) is not None]
        wanted = [e for e in entries if everything or e["status"] == QUARANTINED]
        return sorted(wanted, key=lambda e: (e["model"], e["quarantined_at"]))

    def release(self, model: str, partition: str, reason: str, by: str | None = None,
                read: set[str] | None = None) -> dict:
        """Let training use a quarantined partition as it is now; ``partition`` is an entry id or a data URI.

        Not when a file cannot be read, or a column training reads (``read``; None: every column) is missing or
        stored as text where numbers or times are expected: the release would only move the failure into training.
        """
        matches = [e for e in self.list(model) if partition in (e["id"], e["data_uri"], e["data_uri"].rstrip("/"))]
        if not matches:
            raise QuarantineError(f"no quarantined partition '{partition}' for model {model}; "
                                  f"see `ml-pipeline quarantine list --model {model}`")
        unusable = [failure for entry in matches for failure in entry["failures"] if _unusable(failure, read)]
        if unusable:
            raise QuarantineError(f"{partition} cannot be released for {model}: training cannot read data that "
                                  f"failed {unusable[0]}. Fix the data (rewrite the file with the partition's "
                                  "columns and types); its next validation resolves the entry")
        released = []
        for entry in matches:
            release = {"by": by or getpass.getuser(), "at": _now(), "reason": reason,
                       "fingerprint": entry["fingerprint"]}
            entry = {**entry, "status": RELEASED, "release": release}
            self._write(self._uri(model, entry["id"]), entry)
            released.append(entry)
        return released[0] if len(released) == 1 else {"released": released}

    def _uri(self, model: str, entry_id: str) -> str:
        return join_uri(self.root, model, f"{entry_id}.json")

    @staticmethod
    def _read(uri: str) -> dict | None:
        fs, path = fsspec.core.url_to_fs(uri)
        return _entry(fs, path) if fs.exists(path) else None

    @staticmethod
    def _write(uri: str, entry: dict) -> None:
        fs, path = fsspec.core.url_to_fs(uri)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(f"{path}.tmp", json.dumps(entry, indent=2).encode())
        fs.mv(f"{path}.tmp", path)


def _unusable(failure: str, read: set[str] | None) -> bool:
    """Whether a failed check leaves data training cannot read: an unreadable file, or a column it reads."""
    found = UNUSABLE.search(failure)
    column = found and (found["missing"] or found["typed"])
    return bool(found) and (not column or read is None or column in read)


def _entry(fs: fsspec.AbstractFileSystem, path: str) -> dict | None:
    """The entry in the file at ``path``; None, with a warning naming the file, when it cannot be read.

    A file cut short (a writer killed) is no entry: the partition's next validation writes it afresh.
    """
    try:
        entry = json.loads(fs.cat_file(path))
        if isinstance(entry, dict) and {"id", "model", "data_uri", "status", "quarantined_at"} <= entry.keys():
            return {"failures": [], **entry}
        problem = "not a quarantine entry (a JSON object with id, model, data_uri, status, quarantined_at)"
    except (ValueError, UnicodeDecodeError) as exc:
        problem = f"not JSON ({exc})"
    except IsADirectoryError:  # only that: a storage error fails the read (as "no entry", a release would be lost)
        problem = "a folder, not an entry"
    log.warning("quarantine: skipped %s: %s; delete it, and validate its partition again", path, problem)
    return None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
