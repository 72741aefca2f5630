"""The model endpoints a platform serves and their ports, assigned once and kept in ``<home>/serving/ports.json``.

A port, once given to an endpoint, stays that endpoint's: across restarts, when models are added or removed, and
when the endpoint itself goes away (it gets the same port back if it returns). A new endpoint gets the next port
after every port ever assigned that is free now, so adding a model never moves another model's server; several new
ones get theirs in config-file order.

Releases before this file gave the ports by rule: the base port plus the index of each config with an endpoint,
in config-file order. A home without the file (one from such a release, or a fresh one) is seeded with that rule,
so the URLs an existing install hands out stay where they were.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

from ml_pipeline.config import ModelConfig
from ml_platform.secrets import write_private

MAX_PORT = 65535


class PortsFileError(ValueError):
    """``ports.json`` cannot be read as endpoint → port; the message names the file and the fix."""


def served_endpoints(configs: Iterable[ModelConfig]) -> dict[str, str]:
    """Endpoint → model of the configs that want a server: enabled, with a ``deployment.endpoint_name``."""
    return {c.deployment.endpoint_name: c.model_name for c in configs if c.enabled and c.deployment.endpoint_name}


def legacy_endpoints(configs: Iterable[ModelConfig]) -> list[str]:
    """The endpoints as releases before ``ports.json`` numbered them: every config with one, enabled or not."""
    return [c.deployment.endpoint_name for c in configs if c.deployment.endpoint_name]


def legacy_ports(endpoints: Iterable[str], base: int) -> dict[str, int]:
    """The ports those releases gave: ``base`` plus each endpoint's index (no check that the port is free)."""
    return {endpoint: base + i for i, endpoint in enumerate(dict.fromkeys(endpoints))}


def assign_ports(path: Path, endpoints: Iterable[str], base: int, seed: Iterable[str] = ()) -> dict[str, int]:
    """The port of each of ``endpoints``: its recorded one, else a new one (recorded in ``path`` before returning).

    New endpoints get their ports in the order given. While ``path`` does not exist, the endpoints of ``seed``
    (``legacy_endpoints``) first get the ports of the rule before this file (``legacy_ports``).
    Safe against a concurrent caller: the file is locked.

    Raises:
        PortsFileError: ``path`` exists but is not a JSON object of endpoint → port; the message says how to fix it.
    """
    endpoints = list(endpoints)
    with _locked(path):
        recorded = read_ports(path) if path.exists() else None
        ports = legacy_ports(seed, base) if recorded is None else dict(recorded)
        for endpoint in endpoints:
            if endpoint not in ports:
                ports[endpoint] = _next_port(base, set(ports.values()))
        if ports != recorded:
            write_private(path, json.dumps(ports, indent=2, sort_keys=True))
    return {endpoint: ports[endpoint] for endpoint in endpoints}


def recorded_ports(path: Path, seed: Iterable[str], base: int) -> dict[str, int]:
    """The ports ``assign_ports`` gave, read only: those in ``path``, else the ones the seed would give."""
    return read_ports(path) if path.exists() else legacy_ports(seed, base)


def read_ports(path: Path) -> dict[str, int]:
    """Every endpoint → port ever assigned in this instance (empty before the first).

    Raises:
        PortsFileError: the file is not a JSON object of endpoint → port, with distinct ports in range.
    """
    try:
        ports = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PortsFileError(f"{path}: not JSON ({exc}); fix it, or delete it: the next start seeds it "
                         "again in config-file order from ML_PLATFORM_SERVING_PORT (URLs may change)") from None
    fix = ("fix it, or delete it: the next start seeds it again in config-file order from ML_PLATFORM_SERVING_PORT "
           "(URLs may change)")
    if not isinstance(ports, dict) or not all(type(p) is int and isinstance(e, str) for e, p in ports.items()):
        raise PortsFileError(f"{path}: expected a JSON object of endpoint name → port number, e.g. "
                         f'{{"fraud-detection-api": 8500}}; {fix}')
    for endpoint, port in ports.items():
        if not 1 <= port <= MAX_PORT:
            raise PortsFileError(f"{path}: endpoint {endpoint!r} has port {port}, which is no TCP port (1–{MAX_PORT}); "
                             f"{fix}")
        sharing = sorted(other for other, taken in ports.items() if taken == port)
        if len(sharing) > 1:  # two servers on one port: the second never starts, or answers for the first
            raise PortsFileError(f"{path}: endpoints {' and '.join(map(repr, sharing))} have the same port {port}; "
                                 f"{fix}")
    return ports


def _next_port(base: int, taken: set[int]) -> int:
    """The first port from ``base`` on, above every port taken, that nothing listens on now."""
    port = max(base, max(taken, default=base - 1) + 1)
    while port <= MAX_PORT and not port_is_free(port):
        port += 1
    if port > MAX_PORT:
        raise RuntimeError(f"no free port left for a model endpoint above {base}")
    return port


def port_is_free(port: int) -> bool:
    """Whether nothing listens on loopback ``port`` right now."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
