"""Announcements: what each message says (model, version, numbers, data window, links), escaped in e-mails."""

import pytest
import yaml
from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from ml_pipeline.config import AlertsConfig, config_dir
from ml_pipeline_airflow.dag_kinds import DEPLOYMENT, FEATURES, TRAINING, VALIDATION, build_dags
from ml_pipeline_airflow.notifications import announcements as a
from ml_pipeline_airflow.notifications.pagerduty import pagerduty_notifiers

SUMMARY = {"model_name": "fraud", "version": "4", "aliases": ["challenger"], "dag_id": "ml_training_fraud",
           "run_id": "manual__1", "rows": 24000, "partitions": ["2026-11-15", "2026-11-16", "2026-11-20"],
           "snapshot_uri": "file:///lake/runs/x/snapshot.parquet", "data_hash": "abcdef0123456789",
           "mlflow_run_id": "r1", "metrics": {"auc": 0.9123, "precision": 0.5, "recall": 0.25},
           "decision": {"promote": True, "reason": "beats champion auc 0.9001"}}
EVALUATION = {"model": "fraud", "challenger": {"version": "5", "run_id": "r5", "auc": 0.71, "metrics": {}},
              "champion": {"version": "4", "run_id": "r4", "auc": 0.9123},
              "holdout": {"days": ["2026-11-21"], "rows": 4000},
              "decision": {"promote": False, "passes_threshold": True, "beats_champion": False,
                           "reason": "auc 0.7100 does not beat the champion's 0.9123 (short by 0.2023)",
                           "challenger_auc": 0.71, "champion_auc": 0.9123, "min_auc_threshold": 0.6,
                           "min_auc_improvement": 0.0}}


def test_the_run_summary_shows_the_holdout_against_the_champion_the_data_window_and_both_links():
    note = a.run_summary_note(SUMMARY, {"version": "3", "run_id": "r3", "auc": 0.9001},
                              "http://af/dags/d/runs/r", "http://mlflow/#/models/fraud/versions/4")
    assert (note["model"], note["version"]) == ("fraud", "4")
    assert "beats champion auc 0.9001" in note["headline"]
    assert note["lines"][0] == "Holdout: AUC 0.9123 vs champion v3 0.9001 (+0.0122)"
    assert "precision 0.5000, recall 0.2500" in note["lines"][1]
    assert "Data: 3 days 2026-11-15 … 2026-11-20, 24,000 rows" in note["lines"][3]
    assert [link["url"] for link in note["links"]] == ["http://af/dags/d/runs/r",
                                                       "http://mlflow/#/models/fraud/versions/4"]


def test_a_first_model_has_no_champion_to_compare_with_and_an_unknown_link_is_left_out():
    note = a.run_summary_note({**SUMMARY, "decision": {"promote": True, "reason": "first model"}}, None,
                              "http://af/x", None)
    assert note["lines"][0] == "Holdout: AUC 0.9123 (no champion yet)"
    assert note["links"] == [{"text": "Airflow run", "url": "http://af/x"}]


def test_a_rejection_names_the_gate_and_the_numbers():
    note = a.rejection_note(EVALUATION, "http://af/x", None)
    assert note["version"] == "5" and "beat the champion" in note["headline"]
    assert "short by 0.2023" in note["headline"]
    assert note["lines"][0] == "Holdout: AUC 0.7100 vs champion v4 0.9123 (-0.2023) on 2026-11-21 (4,000 rows)"
    assert "min_auc_threshold 0.6" in note["lines"][1]


def test_a_promotion_and_a_rollback_say_from_what_to_what():
    promoted = a.promotion_note({**EVALUATION, "challenger": {**EVALUATION["challenger"], "auc": 0.95}}, None, None)
    assert promoted["headline"] == "promoted to champion (replaces v4)" and "(+0.0377)" in promoted["lines"][0]
    rolled = a.rollback_note("fraud", {"from": "5", "to": "4", "reason": "health check failed"}, "rolled back",
                             None, None)
    assert rolled["headline"] == "rolled back v5 → v4 (verified): health check failed"


def test_a_recovery_names_the_status_it_recovered_from():
    recorded = {"model": "fraud", "version": "4", "status": "stable", "reason": "no feature drifted",
                "window_end": "2026-11-22T00:00:00+00:00", "report_url": "http://mlflow/#/experiments/1/runs/x"}
    note = a.recovery_note(recorded, {"check_id": 7, "status": "alert", "reason": "amount drifted"}, "http://af/x")
    assert note["headline"] == "recovered: stable again after alert (check #7)"
    assert "Before: amount drifted" in note["lines"] and note["links"][-1]["text"] == "Report"


def render(notifier, note: dict) -> None:
    notifier.render_template_fields({"note": note})


def test_a_retraining_request_that_trains_nothing_names_the_version_that_already_learned_its_inputs():
    from ml_pipeline.pipelines.training.same_inputs import LearnedBefore

    learned = LearnedBefore("fraud", "2", "drift", "fraud v2 already learned exactly these inputs (data 2fe35641e36b…)")
    note = a.learned_before_note(learned, "http://af/dags/d/runs/r", None)
    slack = SlackWebhookNotifier(slack_webhook_conn_id="slack", text=a.NOTE_TEXT)
    render(slack, note)
    assert slack.text.startswith(":information_source: *fraud* v2: retraining requested by drift: nothing new to "
                                 "train, this version already learned exactly the same inputs\nfraud v2 already")
    email = SmtpNotifier(to=["a@b"], smtp_conn_id="smtp", subject=a.NOTE_SUBJECT, html_content=a.NOTE_HTML)
    render(email, note)
    assert email.subject.startswith("[ml-platform] fraud v2: retraining requested by drift: nothing new to train")
    assert [LearnedBefore("m", "1", t, "").answers_a_request for t in ("drift", "decay+features", "features",
                                                                       "schedule")] == [True, True, False, False]


def test_the_email_escapes_what_it_shows_and_slack_gets_plain_text():
    note = a.rejection_note({**EVALUATION, "decision": {**EVALUATION["decision"], "reason": "<b>x</b> & y"}},
                            "http://af/dags/d/runs/a&b", None)
    email = SmtpNotifier(to=["a@b"], smtp_conn_id="smtp", subject=a.NOTE_SUBJECT, html_content=a.NOTE_HTML)
    render(email, note)
    assert "&lt;b&gt;x&lt;/b&gt; &amp; y" in email.html_content and "<b>x</b>" not in email.html_content
    assert '<a href="http://af/dags/d/runs/a&amp;b">' in email.html_content and "<ul><li>" in email.html_content
    assert email.subject.startswith("[ml-platform] fraud v5: rejected by the gates")
    slack = SlackWebhookNotifier(slack_webhook_conn_id="slack", text=a.NOTE_TEXT)
    render(slack, note)
    assert slack.text.startswith(":no_entry: *fraud* v5: rejected")
    assert "Airflow run: http://af/dags/d/runs/a&b" in slack.text


def test_the_monitoring_email_escapes_its_reason():
    email = SmtpNotifier(to=["a@b"], smtp_conn_id="smtp", subject=a.MONITORING_SUBJECT, html_content=a.MONITORING_HTML)
    email.render_template_fields({"alert": {"model": "m", "version": "1", "cause": "decay", "window_end": "2026",
                                            "top_features": [], "live": {"reason": "auc < 0.8"}, "retrain_note": "",
                                            "report_uri": "", "report_url": "", "reason": "r"},
                                  "ti": {"dag_id": "d", "run_id": "r"}})
    assert "auc &lt; 0.8" in email.html_content


def test_a_channel_set_to_null_builds_no_notifier():
    assert pagerduty_notifiers(None, "down", dedup_key="k", source="m") == []
    with pytest.raises(ValueError, match="severity"):
        pagerduty_notifiers("pd", "down", dedup_key="k", source="m", severity="urgent")


def test_deadlines_per_kind_default_and_can_be_switched_off():
    alerts = AlertsConfig()
    assert [alerts.deadline_for(k) for k in ("training", "features", "validation", "deployment")] == [
        120, 60, 420, 2040]
    off = AlertsConfig(deadline_minutes=30, features_deadline_minutes=None, deployment_deadline_minutes=90)
    assert (off.deadline_for("training"), off.deadline_for("features"), off.deadline_for("deployment")) == (
        30, None, 90)
    with pytest.raises(ValueError, match="monitoring"):
        off.deadline_for("monitoring")


def test_each_kind_of_dag_gets_its_deadline_from_the_config(tmp_path):
    raw = yaml.safe_load((config_dir() / "fraud_detection.yaml").read_text())
    raw["alerts"] = {**raw.get("alerts", {}), "features_deadline_minutes": 45, "validation_deadline_minutes": None,
                     "deployment_deadline_minutes": 1900, "slack_connection": "slack_alerts",
                     "email_connection": None}
    (tmp_path / "fraud_detection.yaml").write_text(yaml.safe_dump(raw))
    minutes = {}
    for kind in (TRAINING, FEATURES, VALIDATION, DEPLOYMENT):
        dags = build_dags(kind, tmp_path)
        if dags:
            [dag] = dags.values()
            minutes[kind.name] = [d.interval.total_seconds() / 60 for d in dag.deadline or []]
    assert minutes["training"] == [raw["alerts"].get("deadline_minutes", 120)]  # one channel: Slack only
    assert minutes["deployment"] == [1900] and minutes["data-validation"] == []
    assert minutes["features"] == [45]
