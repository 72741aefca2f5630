"""The layers import one way: core <- Airflow integration <- DAG files."""

import ast
from pathlib import Path

from tests.conftest import REPO_ROOT

ALLOWED_AIRFLOW_IMPORTERS = (REPO_ROOT / "src" / "ml_pipeline_airflow", REPO_ROOT / "airflow" / "dags")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def python_files() -> list[Path]:
    roots = [REPO_ROOT / d for d in ("src", "airflow", "benchmarks", "tests")]
    return [p for root in roots if root.exists() for p in root.rglob("*.py")]


def test_only_the_integration_package_and_dag_files_import_airflow():
    offenders = [
        str(path.relative_to(REPO_ROOT)) for path in python_files()
        if not any(path.is_relative_to(allowed) for allowed in ALLOWED_AIRFLOW_IMPORTERS)
        and not path.is_relative_to(REPO_ROOT / "tests")
        and any(m == "airflow" or m.startswith("airflow.") for m in imported_modules(path))
    ]
    assert offenders == []


def test_the_core_never_imports_the_integration_or_platform_packages():
    core = REPO_ROOT / "src" / "ml_pipeline"
    cli = core / "cli.py"  # the command line composes the layers (dlq, alerts need the running platform)
    offenders = [str(p) for p in core.rglob("*.py") if p != cli
                 and any(m.split(".")[0] in {"ml_pipeline_airflow", "ml_platform"} for m in imported_modules(p))]
    assert offenders == []
    assert "ml_pipeline_airflow" not in {m.split(".")[0] for m in imported_modules(cli)}


def test_the_scan_finds_an_airflow_import_when_there_is_one(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from airflow.sdk import DAG\nimport os\n")
    assert "airflow.sdk" in imported_modules(sample)
