"""Suite-wide settings: Airflow reads its config at import, so it is set before any test imports it.

``make test`` runs the suite on two pytest-xdist workers (``--dist loadgroup``): the end-to-end tests, which mostly
wait on a running platform, on one worker while the rest runs on the other. Tests sharing an expensive fixture stay
on one worker: every end-to-end test in one group (one platform per executor, package scope), every other module in
a group of its own (module-scoped services); the end-to-end group is first, so it starts at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
E2E = REPO_ROOT / "tests" / "e2e"

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="ml-tests-airflow-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "airflow" / "dags"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups and pytest orders the tests by fixture
def pytest_collection_modifyitems(config, items):
    for item in items:
        item.add_marker(pytest.mark.xdist_group("e2e" if item.path.is_relative_to(E2E) else item.nodeid.split("::")[0]))
    items.sort(key=lambda item: not item.path.is_relative_to(E2E))  # stable: the order within each part stays
