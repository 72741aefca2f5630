"""Failure drills: DAGs that fail on purpose, to prove the platform's failure handling end to end.

``platform_failure_drill`` (manual; param ``mode``) exercises what a pipeline task meets in real life:

- ``transient``: a connection error on the first ``failures`` tries, then success — retried with backoff;
- ``permanent``: a bug (``KeyError``) until the Airflow Variable ``platform_drill_fixed`` is set — failed at
  once, alerted on Slack and email, recorded in the dead-letter queue, replayable once "fixed". With
  ``fail_after_seconds`` it reads the Variable, logs ``FAILING_SOON`` and fails that much later (the chaos suite
  kills the database in between, so that the failure lands in the outage);
- ``sleep``: runs ``sleep_seconds`` (kill its process to see a lost worker detected and retried);
- ``last_try_sleeps``: a connection error on every try but the last, which runs ``sleep_seconds`` (kill its process
  and its supervisor to see a worker lost on its last try alerted by the dag-processor: one kill, not one a try).

``platform_asset_drill`` runs on an asset event, as a model's deployment does on a newly registered version
(``ASSET_DRILL_URI``; post one with ``{"version": "12"}`` in its extra): it fails permanently until the same
Variable is set, so that a deleted asset-triggered run's replay can be seen passing on the event's version; its
``confirm_as_asked`` skips while that fails (``fail_when_one_failed`` then fails the run, as ``fail_deployment``
does), and a replay of the failure runs both again.
``platform_deadline_drill`` sleeps past a deadline of a few seconds, so the deadline alert can be watched.
``platform_stuck_drill`` holds a task that never starts (its pool does not exist): stuck work, for
``monitoring_ml_pipelines`` to report.
``platform_scale_probe`` is three trivial tasks in a row: ``benchmarks/scale.py`` runs it 50+ times at once to
measure the scheduler and executor alone (hand-off latencies), without any ML work.
Operators run them after setting up alert channels; the end-to-end tests run them on every change.
"""

from __future__ import annotations

import datetime as dt
import logging
import time

from airflow.sdk import DAG, Asset, Param, Variable, get_current_context, get_parsing_context, task

from ml_pipeline_airflow.notifications.alerts import DagRunFailureAlert, TaskFailureAlert, deadline_alerts
from ml_pipeline_airflow.retry_policy import TRANSIENT_ONLY
from ml_pipeline_airflow.runtime import refuse_unknown_conf, run_classified

MODEL = "platform"
FIXED_VARIABLE = "platform_drill_fixed"
NO_SUCH_POOL = "platform_drill_no_such_pool"
ASSET_DRILL_URI = "drill://platform/registered"
FAILING_SOON = "drill: Variable read, failing in"  # logged by a delayed permanent failure (benchmarks/chaos waits)
log = logging.getLogger(__name__)
HOUR = 3600  # the longest a drill may hold a worker slot, asleep (its tasks' execution_timeout is one more minute)
DRILL_ARGS = {"owner": "ml-platform", "retries": 3, "execution_timeout": dt.timedelta(seconds=HOUR + 60),
              "retry_delay": dt.timedelta(seconds=2), "retry_exponential_backoff": 2.0,
              "max_retry_delay": dt.timedelta(seconds=30),
              "retry_policy": TRANSIENT_ONLY, "on_failure_callback": [TaskFailureAlert(MODEL, email_to=[
                  "ml-alerts@localhost"])]}


@task(multiple_outputs=False)
def fail_as_asked() -> dict:
    """Behave as the run's ``mode`` param says; return what happened."""
    context = get_current_context()
    ti = context["ti"]

    def asked() -> dict:
        refuse_unknown_conf(context)  # a misspelt `mdoe` would drill the default mode
        return drill(context["params"], ti.try_number, last_try=ti.try_number > ti.max_tries)

    return run_classified(asked)


def drill(params: dict, try_number: int, last_try: bool = False) -> dict:
    """Fail the way ``params["mode"]`` asks, on this try (``last_try``: no retry is left after it)."""
    if ((params["mode"] == "transient" and try_number <= params["failures"])
            or (params["mode"] == "last_try_sleeps" and not last_try)):
        raise ConnectionError(f"drill: object storage unreachable (try {try_number})")
    if params["mode"] == "permanent" and Variable.get(FIXED_VARIABLE, default=None) is None:
        if params.get("fail_after_seconds"):
            log.info("%s %s s", FAILING_SOON, params["fail_after_seconds"])
            time.sleep(params["fail_after_seconds"])
        raised_at = dt.datetime.now(dt.UTC).isoformat()  # lets the alert-latency benchmark time the alert
        raise KeyError(f"drill: column 'amount' missing (set Variable {FIXED_VARIABLE} to fix; raised_at={raised_at})")
    if params["mode"] in ("sleep", "last_try_sleeps"):
        time.sleep(params["sleep_seconds"])
    return {"mode": params["mode"], "try_number": try_number}


@task(multiple_outputs=False)
def deploy_as_asked() -> dict:
    """Fail as a deployment with a bug would, until the fix Variable is set; then return the version it was given."""
    from ml_pipeline_airflow.tasks.deployment import challenger_version

    context = get_current_context()
    return run_classified(lambda: refuse_unknown_conf(context) or asset_drill(challenger_version(context)))


def asset_drill(version: str | None) -> dict:
    """``KeyError`` until the Variable ``platform_drill_fixed`` is set; then the version (param, else the event)."""
    if Variable.get(FIXED_VARIABLE, default=None) is None:
        raise KeyError(f"drill: version {version} has no signature (set Variable {FIXED_VARIABLE} to fix)")
    return {"version": version}


@task(trigger_rule="all_done")
def confirm_as_asked() -> str:
    """Skip when the deployment failed (nothing to confirm), as ``roll_back`` skips when nothing moved; else confirm.

    A replay of the failed task must run this again: a task after it that skipped because of it decides anew.
    """
    from airflow.sdk.exceptions import AirflowSkipException

    if get_current_context()["ti"].xcom_pull(task_ids="deploy_as_asked") is None:
        raise AirflowSkipException("deploy_as_asked did not deploy: nothing to confirm")
    return "confirmed"


@task(trigger_rule="one_failed", on_failure_callback=[], retries=0)
def fail_when_one_failed() -> None:
    """Fail the run when a task failed: the run's state follows its last tasks, and a skipped one is no failure.

    As ``fail_deployment`` does in a deployment; the failed task has alerted already, so this one does not.
    """
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException("deploy_as_asked failed: see its log")


@task
def sleep_past_deadline(seconds: int = 40) -> None:
    """Outlive the DAG run's deadline."""
    time.sleep(seconds)


def build_drill_dags() -> dict[str, DAG]:
    """The drill DAGs and the scale probe, by dag_id; in a task process only its own DAG.

    ``get_parsing_context`` names the task's DAG: each of the scale probe's tasks parsed four DAGs to run one (30 ms
    of CPU a task).
    """
    wanted = get_parsing_context().dag_id
    return {dag_id: build() for dag_id, build in DRILLS.items() if wanted in (None, dag_id)}


def failure_drill() -> DAG:
    with DAG("platform_failure_drill", schedule=None, catchup=False, tags=["ml", "platform", "drill"],
             default_args=DRILL_ARGS, doc_md=__doc__,
             on_failure_callback=DagRunFailureAlert(MODEL, email_to=["ml-alerts@localhost"]),
             params={"mode": Param("transient", enum=["transient", "permanent", "sleep", "last_try_sleeps"]),
                     "failures": Param(2, type="integer", minimum=0, maximum=10),  # tries: 4, retries included
                     "sleep_seconds": Param(60, type="integer", minimum=0, maximum=HOUR),
                     "fail_after_seconds": Param(0, type="integer", minimum=0, maximum=HOUR,
                                                 description="permanent: fail this long after reading the Variable")}
             ) as dag:
        fail_as_asked()
    return dag


def asset_drill_dag() -> DAG:
    with DAG("platform_asset_drill", schedule=[Asset(name="platform_drill_registered", uri=ASSET_DRILL_URI,
                                                     group="drills")],
             catchup=False, tags=["ml", "platform", "drill"], default_args=DRILL_ARGS, doc_md=__doc__,
             params={"version": Param(None, type=["null", "string"], description="deploy this version")}) as dag:
        deployed = deploy_as_asked()
        deployed >> confirm_as_asked()
        deployed >> fail_when_one_failed()
    return dag


def deadline_drill() -> DAG:
    with DAG("platform_deadline_drill", schedule=None, catchup=False, tags=["ml", "platform", "drill"],
             default_args=DRILL_ARGS, doc_md=__doc__,
             deadline=deadline_alerts(MODEL, 0.1, "slack_alerts", "smtp_default", ["ml-alerts@localhost"])
             ) as dag:
        sleep_past_deadline()
    return dag


def scale_probe() -> DAG:
    # Its runs stand for 50+ different DAGs' runs: neither Airflow's per-DAG cap on active runs (16) nor on running
    # tasks (16) applies, so what limits them is the scheduler and the executor.
    with DAG("platform_scale_probe", schedule=None, catchup=False, max_active_runs=128, max_active_tasks=128,
             tags=["ml", "platform", "benchmark"], default_args={"owner": "ml-platform", "retries": 0},
             doc_md=__doc__) as dag:
        probe.override(task_id="first")() >> probe.override(task_id="second")() >> probe.override(task_id="third")()
    return dag


def stuck_drill() -> DAG:
    # A task that can never start: its pool does not exist, so the scheduler leaves it scheduled (and says so in its
    # log) until someone marks the run failed; monitoring_ml_pipelines reports it as stuck work.
    with DAG("platform_stuck_drill", schedule=None, catchup=False, tags=["ml", "platform", "drill"],
             default_args={"owner": "ml-platform", "retries": 0}, doc_md=__doc__) as dag:
        probe.override(task_id="never_starts", pool=NO_SUCH_POOL)()
    return dag


@task
def probe() -> None:
    """Do nothing: what is measured is the platform around it."""


DRILLS = {"platform_failure_drill": failure_drill, "platform_asset_drill": asset_drill_dag,
          "platform_deadline_drill": deadline_drill,
          "platform_scale_probe": scale_probe, "platform_stuck_drill": stuck_drill}
