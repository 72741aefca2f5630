"""Keep a check: its report, its ``model_monitoring`` row, and whether to request a retraining.

The report is JSON and HTML, in the lake and in MLflow. A retraining is requested when the cause is listed in
``monitoring.retrain_on`` and no request lies within the cooldown, so that a persisting drift never retrains in a
loop. The check before this one is returned too: a stable check after a warning or an alert is a recovery, which
is announced.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

from ml_pipeline.monitoring.history import ALERT, ERROR, SKIPPED, STABLE, WARN, MonitoringCheck, MonitoringHistory
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.monitoring.reference import monitoring_uri
from ml_pipeline.pipelines.monitoring.results import CheckResult, RecordedCheck

log = logging.getLogger(__name__)
RUN_KEY_TAG = "monitoring.run_key"


def record_check(ctx: RunContext, history: MonitoringHistory, result: CheckResult) -> RecordedCheck:
    """Write the report, decide on retraining, and append the check to the time series (once per DAG run)."""
    requested, note = retrain_decision(ctx, history, result.get("cause"))
    previous = previous_check(history, result["model"], result["version"], ctx.run_id)
    report_uri = report_url = None
    if result["status"] != "skipped":
        report_uri = write_report(ctx, result)
        report_url = log_to_mlflow(ctx, result, report_uri)
    stored = history.record(MonitoringCheck(
        model=result["model"], version=result["version"], status=result["status"], reason=result["reason"],
        dag_id=ctx.dag_id, run_id=ctx.run_id, window_start=_time(result["window_start"]),
        window_end=_time(result["window_end"]), window_fingerprint=result["fingerprint"], rows=result["rows"],
        drift_share=result["drift"].get("drift_share"), drifted=bool(result["drift"].get("drifted")),
        decayed=result["live"].get("status") == "decayed", retrain_cause=result["cause"],
        retrain_requested=requested, report_uri=report_uri, features=_feature_summary(result),
        predictions=_summary(result["predictions"]), target=_summary(result["target"]), live=result["live"]))
    return {"check_id": stored.id, "model": result["model"], "version": result["version"],
            "status": result["status"], "reason": result["reason"], "cause": result["cause"],
            "retrain_requested": stored.retrain_requested, "retrain_note": note, "window_end": result["window_end"],
            "report_uri": report_uri, "report_url": report_url, "top_features": top_features(result),
            "live": result["live"], "previous": previous and {"check_id": previous.id, "status": previous.status,
                                                              "reason": previous.reason, "version": previous.version},
            "recovered": result["status"] == STABLE and previous is not None and previous.status in (WARN, ALERT)}


def previous_check(history: MonitoringHistory, model: str, version: str | None, run_id: str) -> MonitoringCheck | None:
    """The check that judged data before this run's: of the same version, else the model's newest (a new champion).

    Skipped and failed checks do not count: an hourly check that found no new data says nothing about recovery.
    """
    last = history.last_judged(model, version) if version else None
    if last is not None and last.run_id != run_id:
        return last
    judged = [c for c in history.checks(model, 50) if c.status not in (SKIPPED, ERROR) and c.run_id != run_id]
    return judged[-1] if judged else None


def retrain_decision(ctx: RunContext, history: MonitoringHistory, cause: str | None) -> tuple[bool, str]:
    """Whether a retraining is requested for ``cause``, and why (or why not)."""
    mon = ctx.config.monitoring
    if cause is None:
        return False, "nothing to retrain for"
    if cause not in mon.retrain_on:
        return False, f"{cause} is not in monitoring.retrain_on {mon.retrain_on}: alert only"
    last = history.last_retrain_request(ctx.config.model_name)
    if last is not None and last.run_id != ctx.run_id and last.created_at is not None:
        requested_at = last.created_at if last.created_at.tzinfo else last.created_at.replace(tzinfo=dt.UTC)
        until = requested_at + dt.timedelta(hours=mon.retrain_cooldown_hours)
        if dt.datetime.now(dt.UTC) < until:
            return False, (f"cooldown: a retraining was requested at {requested_at:%Y-%m-%d %H:%M} UTC "
                           f"(check #{last.id}, {last.retrain_cause}); the next one no earlier than "
                           f"{until:%Y-%m-%d %H:%M} UTC (monitoring.retrain_cooldown_hours)")
    return True, f"retraining requested ({cause})"


def top_features(result: CheckResult, n: int = 5) -> list[dict[str, Any]]:
    """The most drifted features above ``stable``: feature, method, score, thresholds, status."""
    features = sorted(result["drift"].get("features", []), key=lambda f: f["score"], reverse=True)
    return [{k: f[k] for k in ("feature", "method", "score", "warn", "alert", "status")}
            for f in features[:n] if f["status"] != "stable"]


def write_report(ctx: RunContext, result: CheckResult) -> str:
    """The check as JSON and as an HTML page with a chart per drifted feature; returns the HTML's URI."""
    import fsspec

    from ml_pipeline.monitoring.drift import DriftReport
    from ml_pipeline.monitoring.report import render_html

    folder = monitoring_uri(ctx, "reports", re.sub(r"[^A-Za-z0-9._-]", "_", ctx.run_id))
    title = (f"{result['model']} v{result['version']}: {result['status']} — window {result['window_start']} "
             f"to {result['window_end']}")
    html = render_html(DriftReport.from_dict(result["drift"]), title,
                       links={"verdict": result["reason"], "predictions": _line(result["predictions"]),
                              "target": _line(result["target"]), "live": result["live"].get("reason", "")})
    fs, path = fsspec.core.url_to_fs(folder)
    fs.makedirs(path, exist_ok=True)
    with fs.open(f"{path}/report.json", "w") as handle:
        json.dump(result, handle, indent=2, default=str)
    with fs.open(f"{path}/report.html", "w") as handle:
        handle.write(html)
    return f"{folder}/report.html"


def log_to_mlflow(ctx: RunContext, result: CheckResult, report_uri: str) -> str:
    """A monitoring run in the model's experiment, linked to the version; returns the run's URL (once per DAG run)."""
    import fsspec
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry

    client = MlflowClient(ctx.tracking_uri)
    experiment = registry.experiment_id(client, ctx.config.model_name)
    key = f"{ctx.dag_id}/{ctx.run_id}"
    found = client.search_runs([experiment], f"tags.`{RUN_KEY_TAG}` = '{key}'", max_results=1)
    if found:
        run_id = found[0].info.run_id
    else:
        run = client.create_run(experiment, run_name=f"monitoring v{result['version']} {result['window_end'][:16]}",
                                tags={RUN_KEY_TAG: key, "monitoring.model_version": result["version"],
                                      "monitoring.status": result["status"], "mlflow.note.content": result["reason"],
                                      "monitoring.window_start": result["window_start"] or "",
                                      "monitoring.window_end": result["window_end"] or ""})
        run_id = run.info.run_id
        metrics = {"drift_share": result["drift"].get("drift_share", 0.0)}
        metrics.update({f"psi.{f['feature']}": f["score"] for f in result["drift"].get("features", [])})
        if result["predictions"].get("score") is not None:
            metrics["psi.prediction"] = result["predictions"]["score"]
        if result["live"].get("auc") is not None:
            metrics["live_auc"] = result["live"]["auc"]
        for name, value in metrics.items():
            client.log_metric(run_id, name, float(value))
        with fsspec.open(report_uri, "r") as handle:
            client.log_text(run_id, handle.read(), "monitoring/report.html")
        client.log_text(run_id, json.dumps(result, indent=2, default=str), "monitoring/report.json")
        client.set_terminated(run_id)
    client.set_model_version_tag(ctx.config.model_name, result["version"], "monitoring.last_run", run_id)
    client.set_model_version_tag(ctx.config.model_name, result["version"], "monitoring.last_status",
                                 result["status"])
    return f"{ctx.tracking_uri.rstrip('/')}/#/experiments/{experiment}/runs/{run_id}"


def _feature_summary(result: CheckResult) -> dict[str, Any]:
    """Per feature: method, score, status (what the time series keeps of the drift report)."""
    return {f["feature"]: {"method": f["method"], "score": f["score"], "status": f["status"]}
            for f in result["drift"].get("features", [])}


def _summary(verdict: dict[str, Any]) -> dict[str, Any]:
    keep = ("method", "score", "status", "source", "rows", "positive_rate", "reason")
    return {k: verdict[k] for k in keep if k in verdict}


def _line(verdict: dict[str, Any]) -> str:
    if not verdict or verdict.get("score") is None:
        return verdict.get("reason", "not judged") if verdict else "not judged"
    return f"PSI {verdict['score']:.3f} ({verdict['status']}) — {verdict.get('source', '')}".rstrip(" —")


def _time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None
