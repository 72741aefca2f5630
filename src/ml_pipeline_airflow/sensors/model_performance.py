"""``ModelPerformanceSensor``: after a promotion, judge the live model on the data that lands next."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowSensorTimeout, AirflowSkipException

from ml_pipeline_airflow.triggers.model_performance import LabelledDataTrigger, missing_or_unreachable


class ModelPerformanceSensor(BaseSensorOperator):
    """Wait for the watch window's labelled data, then judge the promoted model's metric on it.

    Below the threshold the task fails (the deployment DAG then rolls back). Deferrable by default: a watch of a
    day or more waits on the triggerer, not in a worker slot. With no data by ``timeout`` the task is skipped (the
    champion stays; the log says which days never came). A lake that refuses to be read (access denied, a bad URI),
    or a window too small or of one class to score, fails the task without a verdict: the champion stays,
    ``roll_back`` skips (``UNJUDGED_KEY``), the history and the model's channels are told, and clearing this task
    (with its downstream tasks) judges it later. A version no longer champion when the watch starts or resumes (a
    later deployment, a rollback) is not watched: skipped.

    Args:
        config_path: The model's config file.
        evaluation: The deployment's evaluation (challenger version, holdout days): an XCom reference.
        deferrable: Wait on the triggerer (default) rather than in a worker slot.
        **kwargs: ``BaseSensorOperator``'s arguments (``timeout``, ``poke_interval``, ...).
    """

    template_fields: Sequence[str] = ("evaluation",)
    ui_color = "#f0e0c8"

    def __init__(self, *, config_path: str, evaluation: Any, deferrable: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.config_path = config_path
        self.evaluation = evaluation
        self.deferrable = deferrable

    def _window(self) -> tuple[list[str], list[str]]:
        """The watch window's days and partition folders (a service that does not answer: ``TransientError``)."""
        from ml_pipeline.data.loader import partition_uri
        from ml_pipeline.pipelines import deployment
        from ml_pipeline_airflow.runtime import run_classified, run_context

        def window() -> tuple[list[str], list[str]]:
            ctx = run_context(self.config_path)
            days = deployment.live_window(ctx, self.evaluation)
            return days, [partition_uri(ctx.dataset_uri, dt.date.fromisoformat(day)) for day in days]

        return run_classified(window)

    def _missing(self, context: Any, uris: list[str]) -> list[str]:
        """The folders without data yet; a lake that refuses to be read ends the watch unjudged."""
        from ml_pipeline.failures.classification import one_line
        from ml_pipeline.pipelines.deployment.watch import LAKE_FIX

        try:
            return missing_or_unreachable(uris, self.log)
        except Exception as exc:
            self._unjudged(context, f"the watch cannot read the labelled data of its window ({one_line(exc)})",
                           LAKE_FIX)

    def poke(self, context: Any) -> bool:
        return not self._missing(context, self._window()[1])

    def execute(self, context: Any) -> Any:
        days, uris = self._window()
        if not days:
            raise AirflowSkipException("deployment.watch.window_days is 0: no watch after promotion")
        self._skip_unless_champion()
        if self._missing(context, uris):
            if self.deferrable:
                deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.timeout)
                self.defer(trigger=LabelledDataTrigger(uris, deadline.isoformat(), self.poke_interval),
                           method_name="execute_complete")
            try:
                super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSkipException(f"no labelled data for the watch window: {exc}; the champion stays") \
                    from exc
        return self._judge(context, days)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        """Resume on a worker once the trigger fired: judge, or skip when the data never came."""
        from ml_pipeline.pipelines.deployment.watch import LAKE_FIX

        self._skip_unless_champion()  # the alias may have moved while the watch waited
        if event["status"] == "unreadable":
            self._unjudged(context, f"the watch cannot read the labelled data of its window ({event['error']})",
                           LAKE_FIX)
        if event["status"] == "timeout":
            raise AirflowSkipException(f"no labelled data for the watch window after {self.timeout:g} s "
                                       f"(missing: {', '.join(event['missing'])}): the champion stays")
        return self._judge(context, self._window()[0])

    def _skip_unless_champion(self) -> None:
        """Skip when the version watched is no longer champion (a later deployment or a rollback moved it)."""
        from ml_pipeline.pipelines import deployment
        from ml_pipeline_airflow.runtime import run_step

        version, now = self.evaluation["challenger"]["version"], run_step(deployment.champion_now, self.config_path)
        if now != version:
            raise AirflowSkipException(f"v{version} is no longer champion (now {f'v{now}' if now else 'none'}): "
                                       "nothing to watch, nothing to roll back")

    def _unjudged(self, context: Any, why: str, fix: str) -> NoReturn:
        """End the watch without a verdict: the champion stays (no rollback); the channels and the history are told.

        The history is best effort: its database down must not cost the alert, nor a retry of the whole watch.
        """
        from ml_pipeline.pipelines import deployment
        from ml_pipeline_airflow.notifications.announcements import announce_from_task, unjudged_note
        from ml_pipeline_airflow.tasks.deployment import UNJUDGED_KEY, run_deployment_step

        version = self.evaluation["challenger"]["version"]
        reason = f"{why}: v{version} stays champion, not judged ({self.task_id} in this run). {fix}"
        context["ti"].xcom_push(key=UNJUDGED_KEY, value=reason)
        announce_from_task(self.config_path, lambda model, airflow, mlflow: unjudged_note(
            model, version, reason, airflow, mlflow), version)
        try:
            run_deployment_step(deployment.record_unjudged, self.config_path, self.evaluation, reason)
        except Exception:
            self.log.exception("the unjudged watch is not in the deployment history")
        raise AirflowFailException(reason)

    def _judge(self, context: Any, days: list[str]) -> dict:
        from ml_pipeline.pipelines import deployment
        from ml_pipeline_airflow.runtime import run_step

        def judge(ctx: Any) -> dict:
            try:
                return deployment.live_performance(ctx, self.evaluation, days)
            except deployment.WatchUnjudgedError as exc:
                self._unjudged(context, str(exc), exc.fix)
            except deployment.DeploymentError as exc:  # a PermanentError: the task fails, the rollback reads why
                context["ti"].xcom_push(key="failure", value=str(exc))
                raise

        return run_step(judge, self.config_path)
