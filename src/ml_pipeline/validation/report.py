"""The validation report: every check with expected vs actual, for machines (JSON) and people (Markdown)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SAMPLE_ROWS = 5


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rule on one partition."""

    id: str
    kind: str
    column: str | None
    severity: str
    expected: str
    actual: str
    passed: bool
    failing_rows: int | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)

    def line(self) -> str:
        """``column: rule expected …, actual …`` as one line for logs and alerts."""
        where = f"{self.column}: " if self.column else ""
        rows = f" ({self.failing_rows} rows)" if self.failing_rows else ""
        return f"[{self.severity}] {where}{self.id} expected {self.expected}, actual {self.actual}{rows}"


@dataclass
class ValidationReport:
    """Every check run on one data partition (or one ``partition_by`` slice of it) for one model."""

    model: str
    data_uri: str
    scope: str | None
    rows: int
    fingerprint: str
    rules_hash: str
    validated_at: str
    results: list[CheckResult]
    release: dict | None = None  # set when a person released this exact data from quarantine
    report_uri: str | None = None  # where the Markdown report was written (JSON beside it)

    @property
    def errors(self) -> list[CheckResult]:
        """Failed checks of severity ``error``."""
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[CheckResult]:
        """Failed checks of severity ``warning``."""
        return [r for r in self.results if not r.passed and r.severity == "warning"]

    @property
    def blocking(self) -> bool:
        """Whether training must not use this data: an ``error`` failed and nobody released it."""
        return bool(self.errors) and self.release is None

    @property
    def status(self) -> str:
        """``failed``, ``released`` (failed, but released by a person), ``warning`` or ``passed``."""
        if self.errors:
            return "released" if self.release else "failed"
        return "warning" if self.warnings else "passed"

    @property
    def where(self) -> str:
        """The partition and, for a ``partition_by`` slice, its value."""
        return f"{self.data_uri} [{self.scope}]" if self.scope else self.data_uri

    def summary(self) -> str:
        """One line: what was checked and how it went."""
        return (f"{self.model} on {self.where}: {self.status.upper()} — {len(self.results)} checks, "
                f"{len(self.errors)} error(s), {len(self.warnings)} warning(s), {self.rows} rows")

    def to_dict(self) -> dict:
        """The report as plain JSON-able data."""
        return {**asdict(self), "status": self.status}

    def to_json(self) -> str:
        """The machine-readable report."""
        return json.dumps(self.to_dict(), indent=2, default=str)

    @classmethod
    def from_dict(cls, data: dict) -> ValidationReport:
        """Read a report written by ``to_json``."""
        fields = {k: v for k, v in data.items() if k != "status"}
        return cls(**{**fields, "results": [CheckResult(**r) for r in data["results"]]})

    def to_markdown(self) -> str:
        """The report for people: the verdict, failed checks first with offending rows, then the rest."""
        lines = [f"# Data validation: {self.model}", "", f"**{self.status.upper()}** · `{self.where}` · "
                 f"{self.rows} rows · {self.validated_at} · rules `{self.rules_hash}` · data `{self.fingerprint}`", ""]
        if self.release:
            lines += [f"Released from quarantine by {self.release.get('by')} at {self.release.get('at')}: "
                      f"{self.release.get('reason')}", ""]
        ordered = sorted(self.results, key=lambda r: (r.passed, r.severity != "error", r.id))
        lines += ["| result | severity | check | column | expected | actual |", "|---|---|---|---|---|---|"]
        for r in ordered:
            mark = "pass" if r.passed else "**FAIL**" if r.severity == "error" else "**WARN**"
            lines.append(f"| {mark} | {r.severity} | `{r.id}` | {r.column or ''} | {_cell(r.expected)} | "
                         f"{_cell(r.actual)} |")
        for r in ordered:
            if not r.passed and r.sample:
                lines += ["", f"### `{r.id}`: first offending rows ({r.failing_rows} in all)", "",
                          "```json", *(json.dumps(row, default=str) for row in r.sample), "```"]
        return "\n".join(lines) + "\n"


def failure_message(reports: list[ValidationReport]) -> str:
    """The error that stops training: every failed check of every blocking partition, and what to do."""
    blocking = [r for r in reports if r.blocking]
    lines = [f"data validation failed for {blocking[0].model} on {len(blocking)} partition(s):"]
    for report in blocking:
        lines.append(f"  {report.where}:")
        lines += [f"    - {check.line()}" for check in report.errors]
    lines.append("The partitions are quarantined (nothing was deleted). Fix the data and rerun, or accept it with "
                 f"`ml-pipeline quarantine release --model {blocking[0].model} <partition>`.")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
