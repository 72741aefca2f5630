import subprocess

import pytest

from ml_platform.components import BIN
from tests.support.services import isolated_layout, postgres_and_mlflow


@pytest.fixture(scope="session")
def services(tmp_path_factory):
    """Embedded PostgreSQL with a migrated Airflow database, and a real MLflow server."""
    layout = isolated_layout(tmp_path_factory.mktemp("platform"))
    with postgres_and_mlflow(layout) as env:
        subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
        yield layout, env
