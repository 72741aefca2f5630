import subprocess

import pytest

from ml_platform.components import BIN
from ml_platform.layout import Layout
from tests.support.services import postgres_and_mlflow


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Embedded PostgreSQL with a migrated Airflow database, and a real MLflow server."""
    layout = Layout.on_free_ports(tmp_path_factory.mktemp("platform"))
    with postgres_and_mlflow(layout) as env:
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        yield layout, env
