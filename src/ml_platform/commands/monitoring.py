"""``ml-pipeline monitor``: a model's latest checks — drift per feature with its trend, live metrics, retraining."""

from __future__ import annotations

import argparse
import json
import sys

from ml_pipeline.cli.options import positive_int
from ml_platform.commands import reporting_errors


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``monitor`` to the ``ml-pipeline`` parser."""
    monitor = commands.add_parser("monitor", help="a model's drift, live performance and retraining, latest checks")
    monitor.add_argument("model")
    monitor.add_argument("--checks", type=positive_int, default=24,
                         help="how many of the newest checks the trend covers")
    monitor.add_argument("--json", action="store_true", help="the checks as JSON")
    monitor.add_argument("--check", action="store_true",
                         help="run a check now (triggers model_monitoring_<model> and waits), then show")
    monitor.set_defaults(handler=show_monitoring)


@reporting_errors
def show_monitoring(args: argparse.Namespace) -> int:
    """Print the model's champion and its newest checks (exit 1 when the platform cannot be reached)."""
    from mlflow.exceptions import MlflowException

    from ml_pipeline.errors import PipelineError
    from ml_pipeline.monitoring.history import MonitoringHistory
    from ml_pipeline.monitoring.summary import describe
    from ml_platform import database
    from ml_platform import deployment_ops as ops
    from ml_platform.layout import Layout

    layout = Layout.from_env()
    if args.check and not run_check(layout, args.model):
        return 1
    try:
        checks = MonitoringHistory(database.database_url(layout, "ml_platform")).checks(args.model, args.checks)
    except Exception as exc:
        print(f"error: cannot read the monitoring checks: {type(exc).__name__}: {str(exc)[:300]}; is the platform "
              "up (`make status`)?", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([c.to_dict() for c in checks], indent=2))
        return 0
    try:
        champion = ops.current_aliases(layout, args.model).get("champion")
    except (PipelineError, MlflowException) as exc:  # unreachable, not MLflow, a refusal: the checks still show
        print(f"warning: cannot read {args.model}'s aliases now ({exc})", file=sys.stderr)
        champion = checks[-1].version if checks else None
    print(describe(args.model, champion, checks))
    print(f"dashboard: {layout.airflow_url}/ml-platform/models/{args.model} (drift per feature over time, live "
          "metrics, deployments)")
    return 0


def run_check(layout, model: str) -> bool:
    """Trigger the model's monitoring DAG through the REST API and wait for it; False (said why) when it failed."""
    import datetime as dt

    from ml_pipeline_airflow import dag_ids
    from ml_platform.airflow_api import AirflowApiError
    from ml_platform.clients import airflow_client

    dag_id = dag_ids.dag_id(dag_ids.MONITORING, model)
    client = airflow_client(layout)
    try:
        if client.request("GET", f"/dags/{dag_id}").get("is_paused"):  # a paused DAG's runs are never scheduled
            client.unpause(dag_id)
            print(f"unpaused {dag_id}: it checks on its schedule from now on", file=sys.stderr)
        run = client.trigger(dag_id, dt.datetime.now(dt.UTC).isoformat())
        print(f"checking: {dag_id} run {run['dag_run_id']} ...", file=sys.stderr, flush=True)
        state = client.wait_for_run(dag_id, run["dag_run_id"], timeout=900)
    except (AirflowApiError, TimeoutError) as exc:
        print(f"error: cannot run {dag_id}: {exc}", file=sys.stderr)
        return False
    finally:
        client.close()
    if state != "success":
        print(f"error: {dag_id} run {run['dag_run_id']} ended {state}: see its log in the Airflow UI",
              file=sys.stderr)
        return False
    return True
