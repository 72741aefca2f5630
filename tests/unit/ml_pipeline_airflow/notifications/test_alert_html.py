"""Every HTML e-mail escapes what it interpolates: exception text holding ``<script>`` or ``&`` reads as text.

The provider's own ``SmtpNotifier`` renders each template, as it does when a task fails.
"""

import datetime as dt
from types import SimpleNamespace

import pytest
from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from ml_pipeline_airflow.notifications import alerts, platform_health

HOSTILE = "bad row <script>alert('x')</script> & more"
ESCAPED = "bad row &lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"


def rendered(html: str, context: dict) -> str:
    email = SmtpNotifier(to=["ops@example.com"], smtp_conn_id="smtp_default", subject="s", html_content=html)
    email.render_template_fields(context)
    return email.html_content


def assert_escaped(html: str) -> None:
    assert "<script>" not in html and ESCAPED in html


def test_a_task_failure_email_escapes_the_exception_and_the_task_names():
    ti = SimpleNamespace(task_id="train<x>", dag_id="ml_training_fraud", run_id="manual__a&b", try_number=2,
                         log_url="http://af/log?a=1&b=2", map_index=3)
    context = {"ti": ti, "exception": ValueError(HOSTILE)}
    context["alert"] = alerts.alert_fields("fraud", context)
    html = rendered(alerts.EMAIL_HTML, context)
    assert_escaped(html)
    assert "<code>train&lt;x&gt;[3]</code>" in html and "<code>manual__a&amp;b</code>" in html
    assert '<a href="http://af/log?a=1&amp;b=2">' in html


def test_a_run_failure_email_escapes_the_reason():
    context = {"dag_run": SimpleNamespace(dag_id="ml_training_fraud", run_id="r<1>"),
               "alert": {"model": "fraud", "reason": HOSTILE, "run_url": "http://af/dags/d/runs/r"}}
    html = rendered(alerts.RUN_EMAIL_HTML, context)
    assert_escaped(html)
    assert "`r&lt;1&gt;`" in html


@pytest.mark.parametrize("value", ["message", "started"])
def test_a_platform_health_email_escapes_every_value(value):
    change = {"icon": "", "transition": "started", "status": "alert", "check": "endpoint", "subject": "fraud-api",
              "message": "fraud-api down"}
    alert = {"changes": [change], "started": 1, "recovered": 0, "open": 1, "dashboard_url": "http://af/p?a&b"}
    if value == "message":
        change["message"] = HOSTILE
    else:
        alert["started"] = HOSTILE  # the counts too: no value is trusted to be plain text
    html = rendered(platform_health.HTML, {"alert": alert, "ti": SimpleNamespace(dag_id="d", run_id="r")})
    assert_escaped(html)
    assert '<a href="http://af/p?a&amp;b">' in html


def test_a_deadline_email_escapes_the_run_it_names():
    [deadline] = alerts.deadline_alerts("fraud", 30, None, "smtp_default", ["ops@example.com"])
    html = deadline.callback.kwargs["html_content"]
    context = {"dag_run": SimpleNamespace(dag_id="ml_training_fraud", dag_run_id=HOSTILE),
               "deadline": SimpleNamespace(deadline_time=dt.datetime(2026, 11, 20, tzinfo=dt.UTC))}
    assert_escaped(rendered(html, context))
