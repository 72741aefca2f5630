"""Where the OpenLineage provider sends the pipelines' lineage: a JSON-lines file, shipped into the platform database.

Airflow's ``[openlineage]`` settings for every component and task. On the embedded platform (one machine, either
executor) every task appends its events to ``<home>/lineage/events.jsonl`` and goes on: the lineage shipper
(``ml_platform.lineage_shipper``, a component) stores them in the platform database within about a second. A task
that posted each event to the receiver itself held its executor slot for the round trip and the receiver's commit,
twice per task (START before ``execute()``, COMPLETE before the process exits): the largest part of the platform's
scheduling latency (docs/DESIGN.md, "Scheduling at scale").

Compose and Helm, whose containers share no folder, post to the receiver in the API server instead
(``http_transport``: ``/ml-platform/api/lineage``, Bearer ``lineage_token``). A team with Marquez or another
OpenLineage backend sets ``AIRFLOW__OPENLINEAGE__TRANSPORT`` itself: the environment overrides each setting here.
"""

from __future__ import annotations

import json
import os

from ml_platform.layout import Layout

NAMESPACE = "ml-platform"
RECEIVER_ENDPOINT = "ml-platform/api/lineage"  # ml_pipeline_airflow.lineage.receiver: MOUNT_PREFIX + PATH
TOKEN_ENV = "ML_PLATFORM_LINEAGE_TOKEN"  # what the receiver checks the Bearer token against
HTTP_TIMEOUT_S = 2
# one retry on a refused connection, a read timeout or a 5xx, no backoff to speak of: an event is not worth holding a
# task for. urllib3 retries only idempotent methods unless told; the OpenLineage client merges its defaults (HEAD,
# POST) into this, and POST is named here so the value says what happens.
HTTP_RETRY = {"total": 1, "connect": 1, "read": 1, "backoff_factor": 0.1, "status_forcelist": [502, 503, 504],
              "allowed_methods": ["POST"]}
# Every task says what it read and wrote itself (ml_pipeline_airflow.lineage.emit), so the provider's extractors and
# hook lineage (which would add the platform database's tables as datasets) are skipped; DAG-run events are off:
# each task event names its DAG run (the parent run facet), and the scheduler spawns no emitting process per run; no
# task source (ours lives in the package, versioned by the commit the mlPlatform run facet carries). All in the
# policy: the provider's legacy disable_source_code cost every task a logged warning and a translation into it.
# The platform's own DAGs (drills, the scale probe: ``platform_*``) read and write no data: no events at all. Their
# tasks no longer pay the listener (about a fifth of a trivial task's CPU, py-spy in a burst of 50 runs).
PLATFORM_DAGS = "platform_.*"
EMISSION_POLICY = [{"scope": {}, "controls": {"extract_operator_metadata": False, "emit_dag_events": False,
                                              "include_source_code": False}},
                   {"scope": {"dag_id": PLATFORM_DAGS}, "match_mode": "regex", "controls": {"emit": False}}]
# the provider logs, at INFO, every event it emits, each line parsed, masked and written by the task's supervisor;
# this filters those (its policy-decision INFO lines still get through: not found why). Warnings and errors stay
QUIET_LOGGERS = "airflow.providers.openlineage=WARNING openlineage.client=WARNING"


def transport(layout: Layout) -> dict:
    """The embedded platform's transport: append to the events file, which the lineage shipper reads."""
    return {"type": "file", "log_file_path": str(layout.lineage_events_file), "append": True}


def http_transport(url: str, token: str) -> dict:
    """The receiver's transport, for deployments whose workers share no folder with it (Compose, Helm)."""
    return {"type": "http", "url": url, "endpoint": RECEIVER_ENDPOINT, "timeout": HTTP_TIMEOUT_S,
            "retry": HTTP_RETRY, "auth": {"type": "api_key", "apiKey": token}}


def openlineage_env(layout: Layout, token: str) -> dict[str, str]:
    """Airflow's ``[openlineage]`` settings and the receiver's token; each one the environment sets wins.

    The API server's receiver still takes events from elsewhere (a Compose worker, another client) with this token.
    """
    token = os.environ.get(TOKEN_ENV) or token
    env = {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport(layout)),
        "AIRFLOW__OPENLINEAGE__EMISSION_POLICY": json.dumps(EMISSION_POLICY),
        "AIRFLOW__LOGGING__NAMESPACE_LEVELS": QUIET_LOGGERS,
        # the listener emits START/COMPLETE from a thread of the task instead of a forked copy of it (measured on 2
        # cores, 20 no-op tasks: +0.14 s a task forked, about nothing in a thread), and waits at most 5 s (default 10)
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "5",
        TOKEN_ENV: token,
    }
    return {name: os.environ.get(name, value) for name, value in env.items()}
