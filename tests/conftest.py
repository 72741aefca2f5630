"""Suite-wide settings: Airflow reads its config at import, so it is set before any test imports it.

``make test`` runs the suite on two pytest-xdist workers: the end-to-end tests, which mostly wait on a running
platform, on one worker while the rest runs on the other. Tests sharing an expensive fixture stay on one worker:
every end-to-end test (one platform per executor, package scope), and each other module's tests (module-scoped
services). The end-to-end tests come first, so they start at once.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
E2E = REPO_ROOT / "tests" / "e2e"

AIRFLOW_HOME_PREFIX = "ml-tests-airflow-"
# a pytest-xdist worker inherits the controller's: it gets its own (Airflow writes its config file there)
if os.environ.get("PYTEST_XDIST_WORKER") and Path(os.environ.get("AIRFLOW_HOME", "/")).name.startswith(
        AIRFLOW_HOME_PREFIX):
    del os.environ["AIRFLOW_HOME"]
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix=AIRFLOW_HOME_PREFIX))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO_ROOT / "airflow" / "dags"))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: not item.path.is_relative_to(E2E))  # stable: the order within each part stays


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's
def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    class EndToEndBesideTheRest(LoadScopeScheduling):
        """Work units in collection order (``--no-loadscope-reorder``): all end-to-end tests, then one per module."""

        def _split_scope(self, nodeid: str) -> str:
            path = nodeid.split("::", 1)[0]
            return "tests/e2e" if path.startswith("tests/e2e/") else path

    return EndToEndBesideTheRest(config, log)
