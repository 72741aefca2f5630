"""The MLflow adapter's import-time choices."""

import subprocess
import sys


def test_talking_to_mlflow_does_not_import_feast():
    """MLflow loads Feast's request-header plugin at its first REST call (all of Feast: seconds of CPU per task);
    the registry adapter loads MLflow's header providers without it, and MLflow's own still answer."""
    code = ("import sys; from ml_pipeline.registry import mlflow_registry; "
            "from mlflow.tracking.request_header.registry import resolve_request_headers; "
            "headers = resolve_request_headers(); print('feast' in sys.modules, 'User-Agent' in headers)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.strip().splitlines()[-1] == "False True", out.stdout + out.stderr[-2000:]
