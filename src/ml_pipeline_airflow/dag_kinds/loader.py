"""The one place that turns the config folder into DAGs, for every kind.

It globs the folder once (sorted), builds only the DAG Airflow asks for when it runs a task
(``get_parsing_context``), and isolates every (config, kind): whatever goes wrong while building one model's
DAG of one kind becomes that model's ``config-error`` DAG of that kind, showing the message (file, field, fix)
in the UI and failing with it when triggered. Every other model's DAGs of every kind still load.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import DAG, get_parsing_context, task
from airflow.sdk.exceptions import AirflowFailException

from ml_pipeline.config import config_dir, config_files, load_model_configs, misnamed_config_files
from ml_pipeline_airflow.dag_kinds.base import DagKind

log = logging.getLogger(__name__)
CONFIG_ERROR_TAG = "config-error"


def build_dags(kind: DagKind, directory: Path | None = None) -> dict[str, DAG]:
    """Every model's DAG of ``kind`` from the configs in ``directory`` (default ``config_dir()``), by dag id."""
    folder = directory or config_dir()
    configs, errors = load_model_configs(config_files(folder) + misnamed_config_files(folder))
    wanted = get_parsing_context().dag_id
    dags: dict[str, DAG] = {}
    for path, config in configs.items():
        dag_id = kind.dag_id(config.model_name)
        if wanted not in (None, dag_id):
            continue
        try:
            if kind.applies(config):
                dags[dag_id] = kind.build(config, path)
        except Exception as exc:  # noqa: BLE001 - one model's bad config must never hide the others' DAGs
            log.exception("cannot build %s DAG of %s", kind.name, path)
            _show_error(dags, dag_id, kind, _message(path, exc))
    if kind.shows_unreadable_configs:
        taken = {kind.dag_id(config.model_name) for config in configs.values()}
        for path, error in errors.items():
            dag_id = kind.error_dag_id(path)
            if dag_id in taken:  # another file's model has this file's name: show the error beside its DAG
                dag_id = kind.error_dag_id(path.with_name(f"{path.stem}_config_error"))
            if wanted in (None, dag_id) and dag_id not in dags:
                log.error("skipping model config %s", error)
                _show_error(dags, dag_id, kind, error)
    return dags


def _show_error(dags: dict[str, DAG], dag_id: str, kind: DagKind, error: str) -> None:
    """Add the config-error DAG of ``dag_id``; should even that fail, log it and go on with the other models."""
    try:
        dags[dag_id] = build_config_error_dag(dag_id, kind, error)
    except Exception:  # noqa: BLE001 - the last line of defence of every other model's DAGs
        log.exception("cannot show the config error of %s as a DAG either: %s", dag_id, error)


def _message(path: Path, exc: Exception) -> str:
    """The error as the UI shows it: the file first (our errors name it already), then the problem."""
    text = str(exc) or type(exc).__name__
    return text if str(path) in text else f"{path}: cannot build the DAG: {type(exc).__name__}: {text}"


def build_config_error_dag(dag_id: str, kind: DagKind, error: str) -> DAG:
    """A DAG that shows a config's error in the UI and fails with it when triggered."""
    with DAG(dag_id=dag_id, description=f"CONFIG ERROR: {error}"[:500], schedule=None, auto_register=False,
             tags=["ml", kind.name, CONFIG_ERROR_TAG],
             doc_md=f"### Config error ({kind.name})\n\n```\n{error}\n```\n\nFix the file, then check it with "
                    "`ml-pipeline check-config`; the DAG comes back at the next parse.") as dag:

        @task(retries=0)
        def report_config_error() -> None:
            raise AirflowFailException(error)

        report_config_error()
    return dag
