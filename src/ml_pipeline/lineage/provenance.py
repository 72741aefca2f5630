"""Provenance: which code, config and software produced a model (the commit, package versions, the tags)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from collections.abc import Sequence
from functools import cache
from pathlib import Path

# Every model's stack; the model's own library comes from its estimator (estimators/registry.py).
TRACKED_PACKAGES = ("apache-airflow-core", "apache-airflow-task-sdk", "ml-pipeline", "mlflow", "scikit-learn",
                    "polars")


def code_dir() -> Path:
    """The source checkout the running code comes from (``ML_PIPELINE_CODE_DIR`` overrides)."""
    return Path(os.environ.get("ML_PIPELINE_CODE_DIR", Path(__file__).resolve().parents[3]))


@cache
def code_version(repo: Path | None = None) -> dict[str, str]:
    """Git commit of the code and whether tracked files differ from it."""
    repo = repo or code_dir()
    try:
        commit = _git(repo, "rev-parse", "HEAD")
        dirty = bool(_git(repo, "status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):  # no git, not a checkout, or git stuck past its timeout
        return {"git_commit": "unknown", "git_dirty": "unknown"}
    return {"git_commit": commit, "git_dirty": str(dirty).lower()}


def package_versions(extra: Sequence[str] = ()) -> dict[str, str]:
    """Installed versions of the packages that shape every model and of ``extra`` ones, plus Python's.

    A package that is not installed is left out.
    """
    versions = {"python": platform.python_version()}
    for name in (*TRACKED_PACKAGES, *extra):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def lineage_tags(*, partitions: list[str], data_hash: str, snapshot_uri: str, config_hash: str,
                 config_path: str, dag_id: str, run_id: str, model_type: str,
                 trigger: str = "manual") -> dict[str, str]:
    """The tags every MLflow run and model version of a pipeline carries; ``model_type`` adds its library's version.

    ``trigger`` says what started the run (``schedule``, ``manual``, ``features``, ``drift``, ``decay``).
    """
    from ml_pipeline.estimators.registry import get_estimator

    tags = {
        "lineage.data.partitions": ",".join(partitions),
        "lineage.data.hash": data_hash,
        "lineage.data.snapshot_uri": snapshot_uri,
        "lineage.config.hash": config_hash,
        "lineage.config.path": config_path,
        "lineage.dag_id": dag_id,
        "lineage.run_id": run_id,
        "lineage.model_type": model_type,
        "lineage.trigger": trigger,
    }
    tags.update({f"lineage.code.{k}": v for k, v in code_version().items()})
    versions = package_versions(get_estimator(model_type).distributions)
    tags.update({f"lineage.version.{k}": v for k, v in versions.items()})
    return tags


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, timeout=10).stdout.strip()
