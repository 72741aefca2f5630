"""Where the OpenLineage provider sends the pipelines' lineage: a JSON-lines file and the platform's receiver.

Airflow's ``[openlineage]`` settings for every component and task. The composite transport writes each event to
``<home>/lineage/events.jsonl`` (append) first, then posts it to the receiver in the API server
(``/ml-platform/api/lineage``, Bearer ``lineage_token``), which stores it in the platform database. A post that
fails is raised to the provider (after the file has the event), which logs and counts it (StatsD
``ol.emit.failed``); the HTTP transport gives up after 2 s and one retry, so a receiver that is down costs a task
little.

A team with Marquez or another OpenLineage backend sets ``AIRFLOW__OPENLINEAGE__TRANSPORT`` itself (an HTTP transport
to its URL): the environment overrides each setting here.
"""

from __future__ import annotations

import json
import os

from ml_platform.layout import Layout

NAMESPACE = "ml-platform"
RECEIVER_ENDPOINT = "ml-platform/api/lineage"  # ml_pipeline_airflow.lineage.receiver: MOUNT_PREFIX + PATH
TOKEN_ENV = "ML_PLATFORM_LINEAGE_TOKEN"  # what the receiver checks the Bearer token against
HTTP_TIMEOUT_S = 2
# one retry on a refused connection or a 5xx, no backoff to speak of: an event is not worth holding a task for
HTTP_RETRY = {"total": 1, "connect": 1, "read": 1, "backoff_factor": 0.1, "status_forcelist": [502, 503, 504]}
# Every task says what it read and wrote itself (ml_pipeline_airflow.lineage.emit), so the provider's extractors and
# hook lineage (which would add the platform database's tables as datasets) are skipped; DAG-run events are off:
# each task event names its DAG run (the parent run facet), and the scheduler spawns no emitting process per run.
EMISSION_POLICY = [{"scope": {}, "controls": {"extract_operator_metadata": False, "emit_dag_events": False}}]


def transport(layout: Layout, token: str) -> dict:
    """The composite transport: the events file, and the platform's receiver over HTTP."""
    return {"type": "composite", "continue_on_failure": False, "continue_on_success": True, "transports": {
        "file": {"type": "file", "log_file_path": str(layout.lineage_events_file), "append": True},
        "platform": {"type": "http", "url": layout.airflow_url, "endpoint": RECEIVER_ENDPOINT,
                     "timeout": HTTP_TIMEOUT_S, "retry": HTTP_RETRY,
                     "auth": {"type": "api_key", "apiKey": token}},
    }}


def openlineage_env(layout: Layout, token: str) -> dict[str, str]:
    """Airflow's ``[openlineage]`` settings and the receiver's token; each one the environment sets wins.

    A token the environment sets is also the one the transport sends, so the receiver and the sender never disagree.
    """
    token = os.environ.get(TOKEN_ENV) or token
    env = {
        "AIRFLOW__OPENLINEAGE__NAMESPACE": NAMESPACE,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport(layout, token)),
        # the provider would put each task's Python source in its events: ours live in the package, versioned by
        # the commit the mlPlatform run facet carries
        "AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE": "True",
        "AIRFLOW__OPENLINEAGE__EMISSION_POLICY": json.dumps(EMISSION_POLICY),
        # the listener emits START/COMPLETE from a thread of the task instead of a forked copy of it (measured on 2
        # cores, 20 no-op tasks: +0.14 s a task forked, about nothing in a thread), and waits at most 5 s (default 10)
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "5",
        TOKEN_ENV: token,
    }
    return {name: os.environ.get(name, value) for name, value in env.items()}
