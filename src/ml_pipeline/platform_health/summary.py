"""The platform's health on one screen (``make status``): the newest verdict of every check on every subject."""

from __future__ import annotations

import datetime as dt

from ml_pipeline.platform_health.store import OK, SEVERITY, HealthFinding

MAX_LINES = 12


def describe(findings: list[HealthFinding], dashboard_url: str, now: dt.datetime | None = None) -> str:
    """Counts per verdict, then every problem, worst first (at most ``MAX_LINES``), then where to look further."""
    if not findings:
        return (f"platform health: not measured yet (monitoring_ml_pipelines runs every 30 min; trigger it in "
                f"Airflow to measure now) · dashboard {dashboard_url}")
    now = now or dt.datetime.now(dt.UTC)
    newest = max(f.checked_at for f in findings if f.checked_at)
    problems = sorted((f for f in findings if f.status != OK), key=lambda f: (-SEVERITY[f.status], f.check, f.subject))
    counts = {status: sum(f.status == status for f in findings) for status in ("alert", "warn", "ok")}
    age = int((now - newest).total_seconds() // 60)
    lines = [f"platform health (checked {age} min ago): {counts['alert']} alert, {counts['warn']} warn, "
             f"{counts['ok']} ok" + ("" if problems else " — nothing wrong")]
    lines += [f"  {f.status.upper():<5} {f.check:<13} {f.message}" for f in problems[:MAX_LINES]]
    if len(problems) > MAX_LINES:
        lines.append(f"  … and {len(problems) - MAX_LINES} more")
    lines.append(f"dashboard: {dashboard_url}")
    return "\n".join(lines)
