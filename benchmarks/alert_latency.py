"""Alert latency: a task's final failure -> the Slack message received, over 20+ real failures.

Starts the embedded platform on free ports, triggers ``platform_failure_drill`` in ``permanent`` mode
(a ``KeyError``: failed on its first try, no retry) ``--runs`` times, and for each run compares the moment the
task raised (``raised_at=`` in the error, which the alert quotes) with the moment the local Slack sink received
the alert (and the SMTP sink the email). The task instance's ``end_date`` is no reference: Airflow records it
after the failure callbacks ran. Baseline, measured in the same run: posting the same kind of
message straight to the sink with the Slack provider's hook from this process (the transport's own cost).
Goal from issue #5: p95 <= 10 s. Writes benchmarks/results/alert_latency.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ml_platform.airflow_api import AirflowClient
from ml_platform.alert_sinks import read_alerts
from ml_platform.components import platform_env
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets

REPO = Path(__file__).resolve().parents[1]
DRILL = "platform_failure_drill"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50_s": round(percentile(values, 50), 3), "p95_s": round(percentile(values, 95), 3),
            "max_s": round(max(values), 3), "mean_s": round(statistics.mean(values), 3)}


def baseline(layout: Layout, secrets: dict, count: int) -> list[float]:
    """Seconds for the Slack provider's hook to post straight to the sink and the sink to store it."""
    env = {**os.environ, **platform_env(layout, secrets)}
    probe = (
        "import sys, time, json\n"
        "from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook\n"
        "hook = SlackWebhookHook(slack_webhook_conn_id='slack_alerts')\n"
        "out = []\n"
        f"for i in range({count}):\n"
        "    t0 = time.time(); hook.send(text=f'baseline {i}'); out.append(t0)\n"
        "print(json.dumps(out))\n")
    sent = json.loads(subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True,
                                     check=True).stdout.strip().splitlines()[-1])
    received = [a for a in read_alerts(layout.alerts_file) if a.get("text", "").startswith("baseline ")]
    return [dt.datetime.fromisoformat(r["received_at"]).timestamp() - s for s, r in zip(sent, received, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    work = REPO / "benchmarks" / ".work"
    work.mkdir(exist_ok=True)
    home = Path(tempfile.mkdtemp(prefix="bench-alerts-", dir=work))
    layout = Layout.on_free_ports(home)
    env = {**os.environ, **layout.port_env(), "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"}  # only ours run
    subprocess.run([sys.executable, "-m", "ml_platform.cli", "up"], env=env, check=True, capture_output=True)
    try:
        secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
        client = AirflowClient(layout.airflow_url, secrets["admin_user"], secrets["admin_password"])
        client.wait_for_dag(DRILL)
        base = baseline(layout, secrets, args.runs)
        runs = [client.trigger(DRILL, None, conf={"mode": "permanent"})["dag_run_id"] for _ in range(args.runs)]
        for run_id in runs:
            client.wait_for_run(DRILL, run_id, timeout=600)
        time.sleep(5)  # let the last alerts land
        alerts = read_alerts(layout.alerts_file)
        latency = {"slack": [], "email": []}
        slack_by_run = {run_id: a for a in alerts for run_id in runs
                        if a["channel"] == "slack" and run_id in a.get("text", "")}
        for run_id in runs:
            slack = slack_by_run.get(run_id)
            if slack is None:
                continue
            raised_at = dt.datetime.fromisoformat(re.search(r"raised_at=([0-9T:.+-]+)", slack["text"]).group(1))
            for alert in alerts:
                text = alert.get("text", "") + alert.get("subject", "")
                if run_id in text and alert["channel"] in latency:
                    received = dt.datetime.fromisoformat(alert["received_at"])
                    latency[alert["channel"]].append((received - raised_at).total_seconds())
        result = {"benchmark": "alert_latency", "measured_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", "failures": args.runs,
                  "what": "task raised its final exception -> message received by the local sink",
                  "slack": summary(latency["slack"]), "email": summary(latency["email"]),
                  "baseline_direct_webhook_post": summary(base), "goal_p95_s": 10.0,
                  "missing_alerts": {ch: args.runs - len(v) for ch, v in latency.items()}}
        print(f"slack: p50 {result['slack']['p50_s']} s, p95 {result['slack']['p95_s']} s; "
              f"email: p50 {result['email']['p50_s']} s, p95 {result['email']['p95_s']} s; "
              f"baseline (direct post) p50 {result['baseline_direct_webhook_post']['p50_s']} s; "
              f"missing {result['missing_alerts']}")
        out = REPO / "benchmarks" / "results" / "alert_latency.json"
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")
    finally:
        subprocess.run([sys.executable, "-m", "ml_platform.cli", "down"], env=env, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
