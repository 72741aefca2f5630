"""The layers import one way: core <- Airflow integration <- DAG files, and ``ml_platform`` runs it all from above."""

import ast
import tomllib
from pathlib import Path

from tests.conftest import REPO_ROOT

SRC = REPO_ROOT / "src"
ALLOWED_AIRFLOW_IMPORTERS = (SRC / "ml_pipeline_airflow", REPO_ROOT / "airflow" / "dags")
# Who may import ml_platform besides itself and its console entry points: the tests, and the benchmarks, because
# each benchmark measures a real platform that it starts, logs into and drives (layout, components, secrets, the
# REST client), as a client of the platform like `make demo`. Nothing the platform runs (the core, the integration
# package, the DAG files) may depend on the runner.
ALLOWED_PLATFORM_IMPORTERS = (SRC / "ml_platform", REPO_ROOT / "tests", REPO_ROOT / "benchmarks")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module an import statement of ``path`` names (also imports inside functions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)  # `from pkg import module`
    return names


def top_level(modules: set[str]) -> set[str]:
    """The top-level packages among ``modules``."""
    return {m.split(".")[0] for m in modules}


def python_files() -> list[Path]:
    roots = [REPO_ROOT / d for d in ("src", "airflow", "benchmarks", "tests")]
    return [p for root in roots if root.exists() for p in root.rglob("*.py")]


def module_file(module: str) -> Path:
    """The source file of a first-party module under ``src/``."""
    base = SRC.joinpath(*module.split("."))
    return base / "__init__.py" if base.is_dir() else base.with_suffix(".py")


def module_name(path: Path) -> str:
    """The dotted name of a source file under ``src/``."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def console_scripts() -> dict[str, str]:
    """pyproject's ``[project.scripts]``: script name -> ``module:function``."""
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    files = {module_name(p): p for p in (SRC / package).rglob("*.py")}
    return {name: {m for m in imported_modules(path) if m in files and m != name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str]:
    """One import cycle of ``graph`` as ``[a, b, ..., a]``, or ``[]`` when there is none."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str]:
        if node in path:
            return [*path[path.index(node):], node]
        if node in done:
            return []
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target, [*path, node]):
                return cycle
        done.add(node)
        return []

    for start in sorted(graph):
        if cycle := visit(start, []):
            return cycle
    return []


def test_only_the_integration_package_and_dag_files_import_airflow():
    offenders = [
        str(path.relative_to(REPO_ROOT)) for path in python_files()
        if not any(path.is_relative_to(allowed) for allowed in ALLOWED_AIRFLOW_IMPORTERS)
        and not path.is_relative_to(REPO_ROOT / "tests")
        and "airflow" in top_level(imported_modules(path))
    ]
    assert offenders == []


def test_the_core_never_imports_the_integration_or_platform_packages():
    offenders = [str(p.relative_to(REPO_ROOT)) for p in (SRC / "ml_pipeline").rglob("*.py")
                 if top_level(imported_modules(p)) & {"ml_pipeline_airflow", "ml_platform"}]
    assert offenders == []


def test_only_the_platform_its_entry_points_tests_and_benchmarks_import_it():
    entry_points = {module_file(target.split(":")[0]) for target in console_scripts().values()}
    offenders = [str(path.relative_to(REPO_ROOT)) for path in python_files()
                 if path not in entry_points
                 and not any(path.is_relative_to(allowed) for allowed in ALLOWED_PLATFORM_IMPORTERS)
                 and "ml_platform" in top_level(imported_modules(path))]
    assert offenders == []


def test_console_scripts_name_functions_that_exist():
    for script, target in console_scripts().items():
        module, function = target.split(":")
        path = module_file(module)
        assert path.is_file(), f"{script}: no module {module} ({path})"
        defined = {n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)}
        assert function in defined, f"{script}: {module} defines no {function}()"


def test_the_platform_package_has_no_import_cycle():
    graph = import_graph("ml_platform")
    assert "ml_platform.cli" not in graph["ml_platform.demo"]
    assert find_cycle(graph) == []


def test_the_cycle_check_finds_a_cycle_when_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) == []


def test_the_scan_finds_an_airflow_import_when_there_is_one(tmp_path):
    sample = tmp_path / "x.py"
    sample.write_text("from airflow.sdk import DAG\nimport os\n\ndef f():\n    from ml_platform import demo\n")
    found = imported_modules(sample)
    assert {"airflow.sdk", "ml_platform", "ml_platform.demo"} <= found
    assert top_level(found) == {"airflow", "os", "ml_platform"}
