"""``ml-pipeline monitor``'s text: the latest check, each feature's drift with its trend, the last retraining."""

from __future__ import annotations

from ml_pipeline.monitoring.history import ERROR, SKIPPED, MonitoringCheck

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None], top: float) -> str:
    """One character per value, scaled to ``top`` (a value at or past it is a full bar); ``·`` for no value."""
    if top <= 0:
        top = 1.0
    return "".join("·" if v is None else SPARKS[min(int(v / top * (len(SPARKS) - 1) + 0.5), len(SPARKS) - 1)]
                   for v in values)


def describe(model: str, champion: str | None, checks: list[MonitoringCheck]) -> str:
    """The latest judged check in detail, the trend of every feature over ``checks`` (oldest first)."""
    head = f"{model}: champion " + (f"v{champion}" if champion else "none (nothing is served, nothing monitored)")
    if not checks:
        return head + "\nno checks recorded yet (the monitoring DAG runs hourly by default)"
    latest, judged = checks[-1], [c for c in checks if c.status not in (SKIPPED, ERROR)]
    lines = [head + f" · {len(checks)} check(s) shown, latest {_when(latest)}: {latest.status}"]
    if latest.status in (SKIPPED, ERROR):
        lines.append(f"  {'skipped' if latest.status == SKIPPED else 'failed'}: {latest.reason}")
    if not judged:
        return "\n".join(lines)
    last = judged[-1]
    lines.append(f"last judged {_when(last)} on v{last.version}: window {_span(last)}, {last.rows} rows: "
                 f"{last.status}" + (f" ({last.retrain_cause})" if last.retrain_cause else ""))
    if last.report_uri:
        lines.append(f"report: {last.report_uri}")
    lines.append(f"{'feature':<28} {'method':<18} {'score':>7}  {'status':<7} "
                 f"trend ({len(judged)} checks, oldest first)")
    for name, verdict in sorted(last.features.items(), key=lambda kv: -kv[1]["score"]):
        trend = [c.features.get(name, {}).get("score") for c in judged]
        lines.append(f"{name:<28} {verdict['method']:<18} {verdict['score']:>7.3f}  {verdict['status']:<7} "
                     f"{sparkline(trend, 0.5)}")
    for label, verdict in (("prediction", last.predictions), ("target", last.target)):
        if verdict.get("score") is not None:
            trend = [(c.predictions if label == "prediction" else c.target).get("score") for c in judged]
            lines.append(f"{label + ' (' + verdict.get('method', '') + ')':<47} {verdict['score']:>7.3f}  "
                         f"{verdict['status']:<7} {sparkline(trend, 0.5)}")
    if last.live:
        lines.append(f"live: {last.live.get('reason', '')} [{last.live.get('source', '')}]")
    lines.append(_retraining(checks))
    return "\n".join(lines)


def _retraining(checks: list[MonitoringCheck]) -> str:
    requested = [c for c in checks if c.retrain_requested]
    if not requested:
        return "last retraining request: none in these checks"
    last = requested[-1]
    return (f"last retraining request: {_when(last)} for {last.retrain_cause} on v{last.version} "
            f"(check #{last.id}): {last.reason}")


def _when(check: MonitoringCheck) -> str:
    return check.created_at.strftime("%Y-%m-%d %H:%M UTC") if check.created_at else "?"


def _span(check: MonitoringCheck) -> str:
    if not (check.window_start and check.window_end):
        return "?"
    return f"{check.window_start:%Y-%m-%d %H:%M} – {check.window_end:%Y-%m-%d %H:%M} UTC"
