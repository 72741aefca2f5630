"""``ml-platform``: start, stop and inspect the embedded platform, and run the demo.

The commands print; what they print comes from ``ml_platform.lifecycle``, which returns data. ``demo`` is imported
only when it runs (it builds on the lifecycle too, never on this module). Every command but the start of a new
platform first takes the platform's recorded settings (``recorded_settings``) that the shell does not set; the lifecycle
(and the components it reads, settings of the moment it is imported) is imported after that.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

from ml_pipeline.cli.options import positive_int
from ml_platform import recorded_settings
from ml_platform.layout import REPO_ROOT, Layout
from ml_platform.state import StateFileError, supervisor_pid

DESCRIPTION = "ml-platform: start, stop and inspect the embedded platform, and run the demo."
# The dashboard plugin's pages inside the Airflow UI (ml_pipeline_airflow/dashboard)
DASHBOARD_PATH = "/ml-platform/"

say = functools.partial(print, flush=True)


def up(layout: Layout) -> int:
    """Start the platform in the background, wait until every component is healthy, say how to log in."""
    from ml_platform import lifecycle

    result = lifecycle.start(layout, on_progress=say)
    print(result.describe())
    if result.healthy:
        print(metrics_line(layout))
    return 0 if result.healthy else 1


def down(layout: Layout) -> int:
    """Stop exactly the processes ``up`` started."""
    from ml_platform import lifecycle

    result = lifecycle.stop(layout, on_progress=say)
    print("platform stopped" if result.was_running else "platform was not running")
    return 0


def status(layout: Layout) -> int:
    """Print each component's pid, liveness and restart count, and the health checks."""
    from ml_platform import lifecycle

    now = lifecycle.status(layout)
    print(f"platform: {now.phase}   home: {layout.home}")
    width = max((len(name) for name in [*(c.name for c in now.components), *now.health]), default=0)
    for c in now.components:
        last = f", last exit code {c.last_exit_code} at {c.last_exit_at}" if c.last_exit_code is not None else ""
        print(f"  {c.name:<{width + 7}} {'up' if c.up else 'down':<5} pid {c.pid!s:<8} restarts {c.restarts}{last}")
    for name, healthy in now.health.items():
        print(f"  health {name:<{width}} {'healthy' if healthy else 'unhealthy'}")
    for endpoint, (model, port, says) in now.serving.items():
        print(f"  serving {endpoint} (http://127.0.0.1:{port}, {model}): {says}")
    if now.serving_problem:
        print(f"  serving: ports unknown: {now.serving_problem}")
    print(f"database: {now.database}")
    print(f"Airflow UI {layout.airflow_url} · MLflow UI {layout.mlflow_url} · login in {layout.secrets_file}")
    if now.phase == "down":
        print("start it: `make up` (CeleryExecutor: `make up-celery`)")
    else:
        print(metrics_line(layout))
        print(health_summary(layout))
    return 0


def metrics_line(layout: Layout) -> str:
    """Where the platform's metrics are, and whether Prometheus scrapes them."""
    from ml_platform.metrics.prometheus import why_not_running

    return f"metrics: {layout.metrics_url}/metrics · " + (why_not_running() or f"Prometheus {layout.prometheus_url}")


def health_summary(layout: Layout) -> str:
    """The platform-health verdicts of the newest ``monitoring_ml_pipelines`` run, on one screen."""
    from ml_pipeline.platform_health.store import PlatformHealthStore
    from ml_pipeline.platform_health.summary import describe
    from ml_platform import database

    try:
        findings = PlatformHealthStore(database.database_url(layout, database.PLATFORM_DATABASE)).latest()
    except Exception as exc:  # noqa: BLE001 (status must print whatever the database says)
        return f"platform health: cannot read it ({type(exc).__name__}: {str(exc)[:200]})"
    return describe(findings, f"{layout.airflow_url}{DASHBOARD_PATH}")


def logs(layout: Layout, component: str | None, lines: int) -> int:
    """Print the last lines of one component's log, or of every log."""
    from ml_platform import lifecycle

    every = sorted(layout.logs.glob("*.log"))
    if not every:
        print(f"no logs in {layout.logs}: the platform never ran in {layout.home} (`make up`)", file=sys.stderr)
        return 1
    files = [layout.logs / f"{component}.log"] if component else every
    if not files[0].exists():
        print(f"no log of {component!r}; the components: {', '.join(p.stem for p in every)}", file=sys.stderr)
        return 1
    for path in files:
        print(f"==> {path} <==\n{lifecycle.log_tail(path, lines)}\n")
    return 0


def compose_env(path: Path, force: bool) -> int:
    """Write docker-compose.yaml's ``.env`` with generated secrets; an existing one only gets what it lacks."""
    from ml_platform.compose_env import EnvFileError, write_compose_env

    existed = path.exists() and not force
    try:
        written = write_compose_env(path, force)
    except EnvFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if existed:
        print(f"{path} kept (its secrets encrypt your data); " + (f"added {', '.join(written)}" if written
                                                                   else "it lacks nothing"))
    else:
        print(f"wrote {path} (mode 0600); now `docker compose up -d`")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``ml-platform`` parser."""
    parser = argparse.ArgumentParser(prog="ml-platform", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the platform and wait until healthy")
    commands.add_parser("down", help="stop the platform")
    commands.add_parser("status", help="show components, restarts and health")
    log_cmd = commands.add_parser("logs", help="show the components' log tails")
    log_cmd.add_argument("component", nargs="?")
    log_cmd.add_argument("-n", "--lines", type=positive_int, default=30)
    demo_cmd = commands.add_parser("demo", help="up, generate data, run the fraud pipeline, summarize")
    demo_cmd.add_argument("--rows-per-day", type=positive_int, default=20_000)
    env_cmd = commands.add_parser("compose-env", help="write docker-compose.yaml's .env with generated secrets")
    env_cmd.add_argument("--path", type=Path, default=REPO_ROOT / ".env")
    env_cmd.add_argument("--force", action="store_true", help="replace an existing file (new secrets)")
    return parser


STARTS = ("up", "demo")  # the commands that start a platform when none runs


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ml-platform`` console script."""
    args = build_parser().parse_args(argv)
    from ml_platform.secrets import SecretsError

    try:
        return run(args)
    except (recorded_settings.RecordedSettingsError, SecretsError, StateFileError) as exc:  # platform.env, a port,
        # secrets.json, state.json: each names the file and the fix
        print(f"error: {exc}", file=sys.stderr)
        return 2


def run(args: argparse.Namespace) -> int:
    """Run the parsed command with the platform's settings (the shell's, then what ``up`` recorded)."""
    if args.command == "compose-env":
        return compose_env(args.path, args.force)
    home = Layout.from_env().home  # the ports may still come from the file: only the home is read here
    if args.command not in STARTS or supervisor_pid(Layout(home).state_file) is not None:
        try:  # the running (or last) platform's settings; a new one's come from this environment, recorded by up
            applied = recorded_settings.apply(home)
        except recorded_settings.RecordedSettingsError as exc:
            print(exc, file=sys.stderr)
            return 2
        if applied and args.command == "status":
            print(f"settings {', '.join(applied)} from {home / recorded_settings.FILE_NAME} (as up recorded them; "
                  "your shell's own values win)")
    layout = Layout.from_env()
    if args.command == "logs":
        return logs(layout, args.component, args.lines)
    if args.command == "demo":
        from ml_platform.demo import run_demo

        return run_demo(layout, args.rows_per_day)
    return {"up": up, "down": down, "status": status}[args.command](layout)


if __name__ == "__main__":
    sys.exit(main())
