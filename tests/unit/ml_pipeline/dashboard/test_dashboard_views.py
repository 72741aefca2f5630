"""The dashboard's data shaping and drawing, without a database: records in, views, SVG and HTML out."""

import datetime as dt

from ml_pipeline.config import ModelConfig
from ml_pipeline.dashboard import charts, content, pages, views
from ml_pipeline.deployment.history import DeploymentEvent
from ml_pipeline.monitoring.history import MonitoringCheck
from ml_pipeline.platform_health.store import HealthFinding

NOW = dt.datetime(2025, 6, 1, 12, tzinfo=dt.UTC)
LINKS = pages.Links("/ml-platform", "", "http://mlflow:5000")


def _event(days, action, old, new):
    return DeploymentEvent("fraud", action, old, new, f"{action} <why>", created_at=NOW - dt.timedelta(days=days))


def _check(hours, amount, status="stable", auc=0.9):
    features = {"amount": {"method": "psi", "score": amount, "status": "alert" if amount >= 0.25 else "stable"},
                "age": {"method": "psi", "score": 0.02, "status": "stable"}}
    return MonitoringCheck("fraud", status, "r", version="3", features=features, live={"auc": auc},
                           drift_share=0.5 if amount >= 0.25 else 0.0, created_at=NOW - dt.timedelta(hours=hours))


def test_the_champion_is_the_endpoints_alias_else_the_last_promotion_or_rollback():
    events = [_event(9, "promoted", "2", "3"), _event(5, "rejected", "3", "4"), _event(3, "promoted", "3", "5"),
              _event(2, "rolled_back", "5", "3")]
    assert views.champion(events, None) == ("3", NOW - dt.timedelta(days=2))
    endpoint = HealthFinding("endpoint", "fraud-api", "ok", "m", data={"champion_version": "5"})
    assert views.champion(events, endpoint) == ("5", NOW - dt.timedelta(days=3))
    assert views.champion([_event(1, "rejected", None, "1")], None) == (None, None)


def test_a_model_row_flags_drifted_features_and_ignores_skipped_checks():
    checks = [_check(3, 0.05), _check(2, 0.4, "alert", auc=0.87),
              MonitoringCheck("fraud", "skipped", "too few rows", created_at=NOW)]
    training = [HealthFinding("run_failures", "ml_training_fraud", "ok", "m",
                              data={"success_rate_7d": 0.95, "duration_p50_s": d}) for d in (100, 120)]
    row = views.model_row("fraud", training_dag="ml_training_fraud", events=[], checks=checks, training=training,
                          endpoint=None, last_run=None, dead_letters=2)
    assert row.drift_status == "alert" and row.drifted_features == ["amount"]
    assert row.drift_trend == [0.0, 0.5] and row.auc_trend == [0.9, 0.87]
    assert row.success_rate_7d == 0.95 and row.durations == [100, 120] and row.dead_letters == 2


def test_dag_rows_put_the_worst_first_and_problems_keep_only_what_counts():
    latest = [HealthFinding("run_failures", "b_dag", "ok", "m", data={"runs_24h": 24, "kind": "training"}),
              HealthFinding("run_failures", "a_dag", "alert", "m", data={"runs_24h": 3}),
              HealthFinding("stuck_tasks", "a_dag", "ok", "nothing", value=0),
              HealthFinding("stuck_tasks", "b_dag", "warn", "1 stuck", value=1)]
    assert [r.dag_id for r in views.dag_rows(latest, {})] == ["a_dag", "b_dag"]
    assert [f.subject for f in views.problems(latest, "stuck_tasks")] == ["b_dag"]


def test_a_dag_whose_latest_run_failed_is_red_and_listed_as_failing_until_it_recovers():
    failed = [HealthFinding("run_failures", "drill", "ok", "1 of 1 runs failed", data={"runs_24h": 1}),
              HealthFinding("latest_run", "drill", "alert", "drill: its latest run r1 failed", value=1.0),
              HealthFinding("run_duration", "drill", "ok", "no baseline"),
              HealthFinding("run_failures", "other", "ok", "fine", data={"runs_24h": 5}),
              HealthFinding("run_duration", "other", "warn", "other: p95 3x the week")]
    assert [(r.dag_id, r.status) for r in views.dag_rows(failed, {})] == [("drill", "alert"), ("other", "warn")]
    assert [(f.subject, f.check) for f in views.failing(failed)] == [("drill", "latest_run"), ("other", "run_duration")]
    page = pages.platform_page({"dags": views.dag_rows(failed, {}), "failing": views.failing(failed), "sla": [],
                                "stuck": [], "components": [], "errors": [], "latest_at": NOW}, LINKS, NOW, [])
    assert "drill: its latest run r1 failed" in page
    fixed = [HealthFinding("latest_run", "drill", "ok", "drill: latest run r2 succeeded")]
    assert views.failing(fixed) == []


def test_thresholds_are_each_features_own_else_the_models_default():
    config = ModelConfig.model_validate({"model_name": "fraud", "data": {
        "source": "s3://b/p/", "target_column": "y", "features": ["amount", "age"]},
        "monitoring": {"features": {"amount": {"warn": 0.1, "alert": 0.2}}}})
    assert content.thresholds(config) == {"amount": {"warn": 0.1, "alert": 0.2}, "age": {"warn": 0.1, "alert": 0.25}}


def test_charts_draw_lines_thresholds_and_escape_names():
    series = charts.Series("<script>", [(NOW - dt.timedelta(hours=1), 0.1), (NOW, 0.4)])
    svg = charts.line_chart([series], title="drift", thresholds={"alert": 0.25})
    assert "<polyline" in svg and "stroke-dasharray" in svg and "alert 0.25" in svg
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "no data yet" in charts.line_chart([charts.Series("x", [(NOW, None)])], title="t")
    assert charts.sparkline([None, None]) == '<span class="muted">–</span>'
    assert charts.sparkline([0.1, None, 0.3], top=1.0).count("<polyline") == 1
    assert "rolled_back" in charts.timeline([(NOW, "rolled_back", "v5 → v3")])


def test_pages_escape_data_and_say_when_there_is_nothing():
    row = views.model_row("fraud", training_dag="ml_training_fraud", events=[_event(2, "promoted", None, "3")],
                          checks=[_check(1, 0.4, "alert")], training=[], endpoint=None, last_run=None,
                          dead_letters=0)
    html = pages.models_page([row], LINKS, NOW, notes=["db <slow>"])
    assert 'data-model="fraud"' in html and "v3" in html and "⚑ amount" in html
    assert "db &lt;slow&gt;" in html and "http://mlflow:5000/#/models/fraud/versions/3" in html
    detail = {"drift": [], "events": [_event(2, "promoted", None, "3")], "alerts": [], "live": []}
    page = pages.model_page("fraud", row, detail, LINKS, NOW, [])
    assert "promoted &lt;why&gt;" in page and "no judged monitoring checks yet" in page
    empty = pages.platform_page({"dags": [], "sla": [], "stuck": [], "components": [], "errors": []}, LINKS, NOW, [])
    assert "no DAG run figures yet" in empty and "no component checks yet" in empty


def test_age_reads_in_days_hours_or_minutes():
    assert views.age(NOW - dt.timedelta(days=2, hours=3), NOW) == "2 d 3 h"
    assert views.age(NOW - dt.timedelta(minutes=12), NOW) == "12 min"
    assert views.age(None, NOW) == "–"


def test_the_model_page_draws_the_champions_lineage_with_its_nodes_and_arrows():
    from tests.support import lineage_events as ev

    lineage = content.model_lineage(ev.history(), "fraud_detection", "1")
    assert lineage.version == "1"
    row = views.model_row("fraud_detection", training_dag="ml_training_fraud_detection",
                          events=[_event(2, "promoted", None, "1")], checks=[], training=[], endpoint=None,
                          last_run=None, dead_letters=0)
    page = pages.model_page("fraud_detection", row, {"lineage": lineage}, LINKS, NOW, [])
    svg = page[page.index('<div id="lineage">'):page.index("</svg>", page.index('<div id="lineage">'))]
    for title in ("partitions", "snapshot", "features", "MLflow run", "version", "endpoints", "monitoring"):
        assert f'class="title">{title}</text>' in svg
    for label in ("2026-11-18", "2026-11-19", "snapshot", "sha sha-1", "run run1", ">v1<", "fraud-detection-api",
                  "11-20 07:00→11-21 07:00", "11-21 08:00→now", "2 checks"):
        assert label in svg, label
    # partitions → snapshot (2), snapshot → features, snapshot → run, features → run, run → v1, v1 → 2 endpoints,
    # v1 → checks; the snapshot's validation report is not drawn
    assert svg.count('class="edge"') == 9 and "latest 11-21 09:00" in svg
    assert "the champion" in page and "ml-pipeline lineage fraud_detection 1" in page
    newest = content.model_lineage(ev.history(), "fraud_detection", "9")
    assert newest.version == "2"
    assert "the champion v1 has none" in pages.model_page("fraud_detection", row, {"lineage": newest}, LINKS, NOW, [])
    assert content.model_lineage([], "fraud_detection", "1") is None
    assert "no lineage recorded for fraud_detection yet" in pages.model_page("fraud_detection", row, {}, LINKS, NOW, [])


def test_the_lineage_picture_folds_many_partitions_and_escapes_names():
    from tests.support import lineage_events as ev

    days = [f"2026-11-{d:02d}" for d in range(1, 11)]
    events = ev.training("<b>", 3, days, ev.T0)
    lineage = content.model_lineage(events, "<b>", None)
    columns, edges = views.lineage_picture(lineage)
    partitions = dict(columns)["partitions"]
    assert [b.label for b in partitions] == ["2026-11-01", "2026-11-02", "+5 more", "2026-11-08", "2026-11-09",
                                             "2026-11-10"]
    assert ("partitions+", partitions[0].id) not in edges and sum(e[0] == "partitions+" for e in edges) == 1
    svg = charts.flow_graph(columns, edges)
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    assert charts.flow_graph([("a", [])], []) == '<p class="muted">lineage: nothing recorded</p>'
