"""The ``ml-pipeline`` console script: the core's commands plus those that need the running platform.

The core's CLI (``ml_pipeline.cli``) holds the pure commands and works on its own (``python -m ml_pipeline.cli``).
The commands that operate a running platform (``dlq``, ``alerts``, ``deployments``, ``rollback``,
``monitor``, ``lineage``) need this
layer's services (its database, its Airflow REST API, its alert sinks), so they live here, in
``ml_platform.commands``. This entry point, named in pyproject's ``[project.scripts]``, is where the two meet: it
builds the core's parser with the platform's groups added, so users keep typing ``ml-pipeline dlq list`` while
the core never imports ``ml_platform``.
"""

from __future__ import annotations

import sys

from ml_pipeline import cli
from ml_platform.commands import alerts, dead_letters, deployments, lineage, monitoring

PLATFORM_GROUPS: tuple[cli.CommandGroup, ...] = (dead_letters.register, alerts.register, deployments.register,
                                                  monitoring.register, lineage.register)
"""The platform's command groups, listed by ``--help`` after the core's."""

DESCRIPTION = ("ml-pipeline: generate data, check configs, validate partitions and run pipelines without Airflow; "
               "operate a running platform's dead letters, alerts, deployments, rollbacks and monitoring; "
               "trace a model version's lineage.")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ml-pipeline`` console script.

    The core's commands that take ``--tracking-uri`` (``run-training``, ``reproduce``, ``gc``) default to
    ``MLFLOW_TRACKING_URI``; unset, that is this platform's MLflow (``ML_PLATFORM_MLFLOW_PORT``), logged in as its
    ``pipelines`` user (``MLFLOW_TRACKING_USERNAME`` set names another; another server gets no platform login).
    Their ``--lake`` defaults to ``ML_LAKE_URI``; unset, this platform's lake (``<ML_PLATFORM_HOME>/lake``), so a
    command typed in another folder reads and writes the data the platform's pipelines see.
    The platform's settings that the shell does not set come from what ``up`` recorded (``recorded_settings``: its
    database, ports and config folder after ``make up-celery``).
    """
    import os

    from ml_platform import recorded_settings
    from ml_platform.layout import Layout
    from ml_platform.mlflow_auth import use_platform_credentials
    from ml_platform.secrets import SecretsError

    try:
        recorded_settings.apply(Layout.from_env().home)
        layout = Layout.from_env()
    except recorded_settings.RecordedSettingsError as exc:  # the file, or a port variable that is not a port
        print(f"error: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("MLFLOW_TRACKING_URI", layout.mlflow_url)
    os.environ.setdefault("ML_LAKE_URI", layout.lake.as_uri())  # `--lake`'s default: this platform's, from any folder
    # a command typed in a shell says that MLflow is down within seconds: MLflow's own 7 retries take about 4 min
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    try:
        use_platform_credentials(layout.secrets_file, layout.mlflow_url)
    except SecretsError as exc:  # commands that need no MLflow login still work; the others fail saying why
        print(f"warning: {exc}; MLflow is asked without the platform's login", file=sys.stderr)
    return cli.main(argv, groups=(*cli.COMMAND_GROUPS, *PLATFORM_GROUPS), description=DESCRIPTION)


if __name__ == "__main__":
    sys.exit(main())
