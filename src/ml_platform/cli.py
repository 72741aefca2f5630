"""``ml-platform``: start, stop and inspect the embedded platform, and run the demo."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from ml_platform import database
from ml_platform.layout import REPO_ROOT, Layout
from ml_platform.secrets import ensure_secrets
from ml_platform.state import component_alive, is_alive, read_state, supervisor_pid
from ml_platform.supervisor import stop_process_tree

START_TIMEOUT_S = 600


def up(layout: Layout) -> int:
    """Start the platform in the background and wait until every component is healthy."""
    layout.ensure_dirs()
    first_time = not layout.secrets_file.exists()
    secrets = ensure_secrets(layout.secrets_file, layout.passwords_file)
    if supervisor_pid(layout.state_file) is None:
        stop_orphans(layout)
        log = open(layout.logs / "supervisor.log", "ab")  # noqa: SIM115 - handed to the child
        subprocess.Popen([sys.executable, "-m", "ml_platform.supervisor"], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        print(f"starting the platform in {layout.home} (logs: {layout.logs})")
    if not _wait_healthy(layout):
        print(f"the platform did not become healthy; supervisor log tail:\n{_tail(layout.logs / 'supervisor.log')}")
        return 1
    print(f"Airflow UI:  {layout.airflow_url}   (user '{secrets['admin_user']}')")
    print(f"MLflow UI:   {layout.mlflow_url}")
    if first_time:
        print(f"Airflow password (shown once): {secrets['admin_password']}")
    print(f"login is kept in {layout.secrets_file} (mode 0600); `make status` shows where")
    return 0


def down(layout: Layout) -> int:
    """Stop exactly the processes ``up`` started."""
    pid = supervisor_pid(layout.state_file)
    if pid:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 120
        while is_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.5)
    stop_orphans(layout)
    print("platform stopped" if pid else "platform was not running")
    return 0


def stop_orphans(layout: Layout) -> None:
    """Stop components whose supervisor died without stopping them (e.g. it was SIGKILLed)."""
    for name, entry in reversed(read_state(layout.state_file).get("components", {}).items()):
        if component_alive(entry):
            print(f"stopping orphaned {name} (pid {entry['pid']})", flush=True)
            stop_process_tree(entry["pid"], getattr(signal, entry.get("stop_signal", "SIGTERM")))


def status(layout: Layout) -> int:
    """Print each component's pid, liveness and restart count, and the health checks."""
    state = read_state(layout.state_file)
    running = supervisor_pid(layout.state_file) is not None
    print(f"platform: {state.get('phase', 'down') if running else 'down'}   home: {layout.home}")
    for name, entry in state.get("components", {}).items():
        alive = "up" if running and component_alive(entry) else "down"
        last = ""
        if "last_exit_code" in entry:
            last = f", last exit code {entry['last_exit_code']} at {entry['last_exit_at']}"
        print(f"  {name:<14} {alive:<5} pid {entry.get('pid')!s:<8} restarts {entry.get('restarts', 0)}{last}")
    if running:
        for name, healthy in _health(layout).items():
            print(f"  health {name:<12} {'healthy' if healthy else 'unhealthy'}")
        for endpoint, (model, port) in layout.serving_endpoints().items():
            print(f"  serving {endpoint} (http://127.0.0.1:{port}, {model}): {_serving_health(port)}")
    print(f"database: {'external ' + (database.external_url() or '') if database.external_url() else 'embedded'}")
    print(f"Airflow UI {layout.airflow_url} · MLflow UI {layout.mlflow_url} · login in {layout.secrets_file}")
    return 0


def logs(layout: Layout, component: str | None, lines: int) -> int:
    """Print the last lines of one component's log, or of every log."""
    files = [layout.logs / f"{component}.log"] if component else sorted(layout.logs.glob("*.log"))
    for path in files:
        print(f"==> {path} <==\n{_tail(path, lines)}\n")
    return 0


def _health(layout: Layout) -> dict[str, bool]:
    result = {"mlflow": False, "metadatabase": False, "scheduler": False, "triggerer": False, "dag_processor": False}
    try:
        result["mlflow"] = httpx.get(f"{layout.mlflow_url}/health", timeout=5).status_code == 200
        body = httpx.get(f"{layout.airflow_url}/api/v2/monitor/health", timeout=5).json()
        for key in ("metadatabase", "scheduler", "triggerer", "dag_processor"):
            result[key] = (body.get(key) or {}).get("status") == "healthy"
    except (httpx.HTTPError, ValueError):
        pass
    return result


def _serving_health(port: int) -> str:
    """What a model server says of itself: the version it serves, or why it serves none."""
    try:
        body = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5).json()
    except (httpx.HTTPError, ValueError) as exc:
        return f"not answering ({type(exc).__name__})"
    return f"serving v{body['version']}" if body.get("status") == "ok" else f"no model: {body.get('reason')}"


def _wait_healthy(layout: Layout) -> bool:
    started = time.monotonic()
    shown = None
    while time.monotonic() < started + START_TIMEOUT_S:
        state = read_state(layout.state_file)
        supervisor_gone = supervisor_pid(layout.state_file) is None and time.monotonic() > started + 10
        if state.get("phase") == "failed" or supervisor_gone:
            return False
        health = _health(layout)
        waiting = [k for k, ok in health.items() if not ok]
        if not waiting:
            return True
        message = f"  {state.get('phase', 'starting')}: waiting for {', '.join(waiting)}"
        if message != shown:
            print(message, flush=True)
            shown = message
        time.sleep(2)
    return False


def _tail(path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ml-platform`` console script."""
    parser = argparse.ArgumentParser(prog="ml-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="start the platform and wait until healthy")
    commands.add_parser("down", help="stop the platform")
    commands.add_parser("status", help="show components, restarts and health")
    log_cmd = commands.add_parser("logs", help="show the components' log tails")
    log_cmd.add_argument("component", nargs="?")
    log_cmd.add_argument("-n", "--lines", type=int, default=30)
    demo_cmd = commands.add_parser("demo", help="up, generate data, run the fraud pipeline, summarize")
    demo_cmd.add_argument("--rows-per-day", type=int, default=20_000)
    env_cmd = commands.add_parser("compose-env", help="write docker-compose.yaml's .env with generated secrets")
    env_cmd.add_argument("--path", type=Path, default=REPO_ROOT / ".env")
    env_cmd.add_argument("--force", action="store_true", help="replace an existing file (new secrets)")
    args = parser.parse_args(argv)
    if args.command == "compose-env":
        from ml_platform.compose_env import write_compose_env

        try:
            print(f"wrote {write_compose_env(args.path, args.force)} (mode 0600); now `docker compose up -d`")
        except FileExistsError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        return 0
    layout = Layout.from_env()
    if args.command == "logs":
        return logs(layout, args.component, args.lines)
    if args.command == "demo":
        from ml_platform.demo import run_demo

        return run_demo(layout, args.rows_per_day)
    return {"up": up, "down": down, "status": status}[args.command](layout)


if __name__ == "__main__":
    sys.exit(main())
