"""The monitoring time series, the retraining decision (cause, cooldown) and ``ml-pipeline monitor``'s text."""

import datetime as dt
from pathlib import Path

import pytest

from ml_pipeline.config import load_model_config
from ml_pipeline.monitoring.history import MonitoringCheck, MonitoringHistory
from ml_pipeline.monitoring.summary import describe, sparkline
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.pipelines.monitoring.record import retrain_decision
from tests.conftest import REPO_ROOT

FRAUD = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"


@pytest.fixture
def history(tmp_path):
    store = MonitoringHistory(f"sqlite:///{tmp_path}/monitoring.db")
    store.create_schema()
    return store


def ctx(run_id: str = "run-3", **monitoring) -> RunContext:
    config = load_model_config(FRAUD)
    config = config.model_copy(update={"monitoring": config.monitoring.model_copy(update=monitoring)})
    return RunContext(config, Path(FRAUD), dt.date(2026, 11, 20), "file:///lake", "http://mlflow",
                      "model_monitoring_fraud_detection", run_id)


def check(status: str, run_id: str, cause: str | None = None, requested: bool = False, **kw) -> MonitoringCheck:
    return MonitoringCheck("fraud_detection", status, f"{status} check", version="3", run_id=run_id,
                           retrain_cause=cause, retrain_requested=requested, **kw)


def test_checks_are_kept_once_per_run_in_order(history):
    history.record(check("stable", "run-1", features={"amount": {"method": "psi_quantile", "score": 0.01,
                                                                 "status": "stable"}}))
    again = history.record(check("alert", "run-1"))  # a retried task: the first record stands
    history.record(check("alert", "run-2", "drift", True))
    assert again.status == "stable"
    assert [c.run_id for c in history.checks("fraud_detection")] == ["run-1", "run-2"]
    assert history.checks("fraud_detection")[0].features["amount"]["score"] == 0.01
    assert history.last_retrain_request("fraud_detection").run_id == "run-2"
    assert history.last_retrain_request("other") is None


def test_a_cause_retrains_once_then_the_cooldown_holds_it_back(history):
    assert retrain_decision(ctx(), history, None) == (False, "nothing to retrain for")
    assert retrain_decision(ctx(), history, "drift") == (True, "retraining requested (drift)")
    history.record(check("alert", "run-2", "drift", True))
    requested, note = retrain_decision(ctx(), history, "decay")
    assert not requested and note.startswith("cooldown: a retraining was requested at ") and "drift" in note
    assert retrain_decision(ctx("run-2"), history, "drift")[0]  # the requesting run itself, retried: still yes
    assert retrain_decision(ctx(retrain_cooldown_hours=0), history, "decay")[0]


def test_a_cause_not_listed_in_retrain_on_only_alerts(history):
    requested, note = retrain_decision(ctx(retrain_on=["decay"]), history, "drift")
    assert not requested and "not in monitoring.retrain_on ['decay']" in note


def test_the_monitor_text_shows_each_feature_with_its_trend_and_the_last_retraining(history):
    start, end = dt.datetime(2026, 11, 20, tzinfo=dt.UTC), dt.datetime(2026, 11, 21, tzinfo=dt.UTC)
    for i, score in enumerate((0.01, 0.05, 0.4)):
        status = "alert" if score > 0.25 else "stable"
        history.record(check(status, f"run-{i}", "drift" if score > 0.25 else None, score > 0.25, rows=5000,
                             window_start=start, window_end=end, report_uri="file:///r.html",
                             features={"amount": {"method": "psi_quantile", "score": score, "status": status},
                                       "merchant_category": {"method": "psi_categorical", "score": 0.02,
                                                             "status": "stable"}},
                             live={"reason": "live auc 0.9100 ≥ 0.8800 on 900 labelled rows", "source": "landed"}))
    history.record(check("skipped", "run-9"))
    text = describe("fraud_detection", "3", history.checks("fraud_detection"))
    lines = text.splitlines()
    assert lines[0].startswith("fraud_detection: champion v3 · 4 check(s) shown") and lines[0].endswith("skipped")
    assert "skipped: skipped check" in text and "report: file:///r.html" in text
    amount = next(line for line in lines if line.startswith("amount "))
    assert "0.400" in amount and "alert" in amount and amount.endswith("▁▂▇")
    assert lines.index(amount) < lines.index(next(ln for ln in lines if ln.startswith("merchant_category")))
    assert "live: live auc 0.9100" in text and "last retraining request:" in text and "for drift on v3" in text
    assert describe("fraud_detection", None, []).endswith("no checks recorded yet (the monitoring DAG runs hourly "
                                                         "by default)")


def test_sparklines_scale_to_the_top_and_mark_missing_values():
    assert sparkline([0.0, 0.25, 0.5, 1.0, None], 0.5) == "▁▅██·"
