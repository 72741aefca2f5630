"""Judging DAG runs: failing now, failure rate, duration against the 7-day baseline, missed deadlines, queued runs.

Input is what Airflow's REST API returns for DAG runs (dicts with ISO timestamps); output is findings.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from ml_pipeline.platform_health.settings import HealthSettings
from ml_pipeline.platform_health.store import ALERT, OK, WARN, HealthFinding

DAY = dt.timedelta(days=1)
FINISHED = ("success", "failed")


@dataclass(frozen=True)
class DagSubject:
    """A DAG the checks know: the model it belongs to, its kind, and its run deadline (None: none)."""

    dag_id: str
    model: str | None = None
    kind: str = "platform"
    deadline_minutes: float | None = None


def timestamp(value: str | dt.datetime | None) -> dt.datetime | None:
    """An API timestamp (ISO 8601, ``Z`` or offset) as an aware datetime."""
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) of ``values`` by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def with_every_dag(subjects: dict[str, DagSubject], runs: list[dict[str, Any]]) -> dict[str, DagSubject]:
    """``subjects`` plus every other DAG with a run in ``runs`` (a drill, a hand-written DAG), as a platform DAG.

    A DAG is judged on every check as long as it has runs in the window, so a problem it had (a stuck task) is seen
    to clear, not just to stop being mentioned.
    """
    return {**{run["dag_id"]: DagSubject(run["dag_id"]) for run in runs}, **subjects}


def judge_runs(runs: list[dict[str, Any]], subjects: dict[str, DagSubject], settings: HealthSettings,
               now: dt.datetime, trained_nothing: frozenset[tuple[str, str]] = frozenset()) -> list[HealthFinding]:
    """Findings of every DAG with runs in the last 7 days (and every known DAG), four checks each.

    ``trained_nothing`` holds the (DAG, run) of training runs that skipped training (a version already learned
    their inputs): they count as runs, but their seconds would pull the duration figures and baseline down.
    """
    by_dag: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        by_dag[run["dag_id"]].append(run)
    findings: list[HealthFinding] = []
    for dag_id in sorted(set(by_dag) | set(subjects)):
        subject = subjects.get(dag_id, DagSubject(dag_id))
        findings += _judge_dag(subject, by_dag.get(dag_id, []), settings, now, trained_nothing)
    return findings


def _judge_dag(subject: DagSubject, runs: list[dict], settings: HealthSettings, now: dt.datetime,
               trained_nothing: frozenset[tuple[str, str]]) -> list[HealthFinding]:
    finished = sorted((r for r in runs if r["state"] in FINISHED and timestamp(r.get("end_date"))),
                      key=lambda r: timestamp(r["end_date"]))
    ended = [(timestamp(r["end_date"]), r) for r in finished]
    day = [r for end, r in ended if end >= now - DAY]
    week = [r for end, r in ended if end >= now - 7 * DAY]
    before = [r for end, r in ended if now - 8 * DAY <= end < now - DAY]  # the 7 days before the last 24 h
    failed_day = [r for r in day if r["state"] == "failed"]
    def timed(run: dict) -> bool:  # a successful run that trained something: seconds-long skips are left out
        return run["state"] == "success" and (run["dag_id"], run["dag_run_id"]) not in trained_nothing

    durations_day = _durations(r for r in day if timed(r))
    durations_before = _durations(r for r in before if timed(r))
    figures = {"kind": subject.kind, "runs_24h": len(day), "failed_24h": len(failed_day),
               "success_rate_24h": _rate(len(day) - len(failed_day), len(day)), "runs_7d": len(week),
               "success_rate_7d": _rate(sum(r["state"] == "success" for r in week), len(week)),
               "duration_p50_s": percentile(durations_day, 0.5), "duration_p95_s": percentile(durations_day, 0.95),
               "baseline_p95_s": percentile(durations_before, 0.95), "durations_24h": len(durations_day),
               "baseline_durations": len(durations_before),
               "trained_nothing_24h": sum((r["dag_id"], r["dag_run_id"]) in trained_nothing for r in day)}
    base = {"subject": subject.dag_id, "model": subject.model}
    findings = []
    if finished:
        last = finished[-1]
        failing = last["state"] == "failed"
        findings.append(HealthFinding(
            check="latest_run", status=ALERT if failing else OK, value=float(failing),
            message=(f"{subject.dag_id}: its latest run {last['dag_run_id']} failed at {last['end_date'][:19]}"
                     if failing else f"{subject.dag_id}: latest run {last['dag_run_id']} succeeded"),
            data={"run_id": last["dag_run_id"], "state": last["state"], "end_date": last["end_date"]}, **base))
    findings.append(_failure_rate(subject, figures, settings, base))
    findings.append(_duration(subject, figures, settings, base))
    if subject.deadline_minutes is not None:
        findings.append(_sla(subject, [r for r in runs if _queued_within(r, now)], settings, now, base))
    return findings


def _failure_rate(subject: DagSubject, figures: dict, settings: HealthSettings, base: dict) -> HealthFinding:
    runs, failed = figures["runs_24h"], figures["failed_24h"]
    rate = failed / runs if runs else 0.0
    judged = runs >= settings.min_runs
    status = ALERT if judged and rate > settings.failure_rate else OK
    message = (f"{subject.dag_id}: {failed} of {runs} runs failed in 24 h ({rate:.0%}, limit "
               f"{settings.failure_rate:.0%})" if judged else
               f"{subject.dag_id}: {runs} runs in 24 h (a rate is judged from {settings.min_runs}), {failed} failed")
    return HealthFinding(check="run_failures", status=status, value=rate, threshold=settings.failure_rate,
                         message=message, data={**figures, "judged": judged}, **base)


def _duration(subject: DagSubject, figures: dict, settings: HealthSettings, base: dict) -> HealthFinding:
    now_p95, before_p95 = figures["duration_p95_s"], figures["baseline_p95_s"]
    ratio = now_p95 / before_p95 if now_p95 is not None and before_p95 else None
    judged = (ratio is not None and figures["durations_24h"] >= settings.min_runs
              and figures["baseline_durations"] >= settings.min_runs)
    slow = judged and ratio > settings.regression_factor and now_p95 >= settings.min_duration_s
    message = (f"{subject.dag_id}: run duration p95 {now_p95:.0f} s over 24 h, {ratio:.1f}x the p95 of the 7 days "
               f"before, {before_p95:.0f} s (limit {settings.regression_factor:g}x)" if judged else
               f"{subject.dag_id}: too few successful runs to judge the duration ({figures['durations_24h']} in 24 h, "
               f"{figures['baseline_durations']} in the 7 days before; {settings.min_runs} each needed)")
    if figures["trained_nothing_24h"]:
        message += f"; {figures['trained_nothing_24h']} run(s) in 24 h trained nothing new and are not timed"
    return HealthFinding(check="run_duration", status=WARN if slow else OK, value=ratio,
                         threshold=settings.regression_factor, message=message, data={**figures, "judged": judged},
                         **base)


def _sla(subject: DagSubject, runs: list[dict], settings: HealthSettings, now: dt.datetime,
         base: dict) -> HealthFinding:
    limit = dt.timedelta(minutes=subject.deadline_minutes)
    missed = [r for r in runs if ((timestamp(r.get("end_date")) or now) - timestamp(r["queued_at"])) > limit]
    rate = len(missed) / len(runs) if runs else 0.0
    status = ALERT if rate > settings.sla_miss_rate else OK
    return HealthFinding(
        check="sla_misses", status=status, value=rate, threshold=settings.sla_miss_rate,
        message=(f"{subject.dag_id}: {len(missed)} of {len(runs)} runs in 24 h missed their deadline of "
                 f"{subject.deadline_minutes:g} min ({rate:.0%}, target < {settings.sla_miss_rate:.0%})"),
        data={"missed_24h": len(missed), "runs_24h": len(runs), "deadline_minutes": subject.deadline_minutes,
              "missed_runs": [r["dag_run_id"] for r in missed][:20]}, **base)


def judge_queued_runs(runs: list[dict[str, Any]], subjects: dict[str, DagSubject], settings: HealthSettings,
                      now: dt.datetime) -> list[HealthFinding]:
    """One finding per known DAG (and per DAG with a queued run): runs queued longer than the threshold."""
    limit = dt.timedelta(minutes=settings.queued_run_minutes)
    waiting: dict[str, list[dict]] = defaultdict(list)
    for run in runs:
        if run["state"] == "queued" and now - timestamp(run["queued_at"]) > limit:
            waiting[run["dag_id"]].append(run)
    findings = []
    for dag_id in sorted(set(subjects) | set(waiting)):
        stuck = waiting.get(dag_id, [])
        subject = subjects.get(dag_id, DagSubject(dag_id))
        findings.append(HealthFinding(
            check="queued_runs", subject=dag_id, model=subject.model, status=ALERT if stuck else OK,
            value=float(len(stuck)), threshold=settings.queued_run_minutes,
            message=(f"{dag_id}: {len(stuck)} run(s) queued for more than {settings.queued_run_minutes:g} min "
                     "(behind max_active_runs or a paused DAG)" if stuck else f"{dag_id}: no run waiting"),
            data={"runs": [{"run_id": r["dag_run_id"], "queued_at": r["queued_at"]} for r in stuck][:20]}))
    return findings


def _durations(runs: Any) -> list[float]:
    return [(timestamp(r["end_date"]) - timestamp(r["start_date"])).total_seconds()
            for r in runs if r.get("start_date") and r.get("end_date")]


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _queued_within(run: dict, now: dt.datetime) -> bool:
    queued = timestamp(run.get("queued_at"))
    return queued is not None and queued >= now - DAY
