"""What a training run records so that its model can be rebuilt: the exact inputs, settings and software.

The record is stored with the MLflow run as ``lineage/lineage.json``, beside the config file as it was
(``lineage/config.yaml``) and the validation rules as they were resolved (``lineage/rules.yaml``); ``reproduce``
reads nothing else. The registry's model versions keep only a few of these facts as tags (``VERSION_TAGS``).
"""

from __future__ import annotations

import hashlib
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ml_pipeline.lineage.provenance import code_dir, code_version, package_versions

RECORD_ARTIFACT = "lineage/lineage.json"
CONFIG_ARTIFACT = "lineage/config.yaml"
RULES_ARTIFACT = "lineage/rules.yaml"
VERSION_TAGS = ("lineage.data.hash", "lineage.data.snapshot_uri", "lineage.code.git_commit", "lineage.code.git_dirty",
                "lineage.trigger", "lineage.run_id")
"""The lineage tags a registered version carries (what MLflow's model page can show in one column); the run keeps
every ``lineage.*`` tag, the record keeps everything."""
DIGEST_LENGTH = 32
"""MLflow stores a dataset digest in 36 characters: its digest is our sha256's first 32 hex digits (the full one
is the dataset input's ``sha256`` tag)."""


@dataclass(frozen=True)
class TrainingRecord:
    """Everything that decided a trained model (``lineage/lineage.json`` of its MLflow run).

    Attributes:
        model: The model's name.
        model_type: Its estimator.
        config_path: Where the config file was when the run read it.
        config_hash: ``ModelConfig.content_hash()`` of the config as it was.
        snapshot_uri: The frozen input rows (comma-separated slices for a ``partition_by`` model).
        data_hash: sha256 of those rows (``hash_frame``; for slices, of their hashes in order).
        rows: Rows in the snapshot.
        partitions: The lake's daily partitions of the window, oldest first.
        features_uri: The run's feature table (the exact rows trained and evaluated on).
        features_sha256: sha256 of the feature table.
        train_sha256: sha256 of the rows trained on.
        holdout_sha256: sha256 of the holdout rows.
        train_rows: Rows trained on.
        holdout_rows: Holdout rows.
        hyperparameters: As the estimator received them.
        seed: The training seed.
        threads: Threads the estimator ran with (tree models are deterministic for a given count).
        device: ``cpu`` or ``cuda``.
        features_from_store: Whether the derived features were read point in time from the feature store.
        code: Git commit, whether tracked files differed from it and a digest of that difference.
        packages: Installed versions of Python and of every library that shapes the model.
        dag_id: The pipeline (DAG id, or ``in_process_<model>``).
        run_id: Its run.
        trigger: What started the run.
        logical_date: The last day of the data window.
    """

    model: str
    model_type: str
    config_path: str
    config_hash: str
    snapshot_uri: str
    data_hash: str
    rows: int
    partitions: list[str]
    features_uri: str
    features_sha256: str
    train_sha256: str
    holdout_sha256: str
    train_rows: int
    holdout_rows: int
    hyperparameters: dict[str, Any]
    seed: int
    threads: int
    device: str
    features_from_store: bool
    dag_id: str
    run_id: str
    trigger: str
    logical_date: str
    code: dict[str, str] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The record as ``lineage.json`` holds it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainingRecord:
        """Read a stored record; fields this code does not know are ignored, missing ones raise ``TypeError``."""
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def current_code() -> dict[str, str]:
    """The running code: git commit, whether tracked files differ, and a sha256 of that difference (or ``""``)."""
    code = dict(code_version())
    code["git_diff_sha256"] = _diff_digest(code_dir()) if code.get("git_dirty") == "true" else ""
    return code


def current_packages(distributions: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of the tracked packages and of the estimator's ``distributions``."""
    return package_versions(distributions)


def software_differences(record: TrainingRecord, code: dict[str, str], packages: dict[str, str]) -> list[str]:
    """Every difference between the software that trained ``record`` and ``code`` / ``packages``, one line each."""
    lines = []
    if "unknown" in (record.code.get("git_commit", "unknown"), code.get("git_commit", "unknown")):
        lines.append("code git_commit: unknown on one side (not a git checkout): the code cannot be compared")
    for key in ("git_commit", "git_dirty", "git_diff_sha256"):
        was, now = record.code.get(key, ""), code.get(key, "")
        if was != now:
            lines.append(f"code {key}: {was or '-'} (trained) != {now or '-'} (installed)")
    for name in sorted(set(record.packages) | set(packages)):
        was, now = record.packages.get(name), packages.get(name)
        if was != now:
            lines.append(f"{name}: {was or 'absent'} (trained) != {now or 'absent'} (installed)")
    return lines


def _diff_digest(repo: Path) -> str:
    """sha256 of ``git diff HEAD`` (tracked files only): two dirty trees with the same changes get the same digest."""
    try:
        diff = subprocess.run(["git", "-C", str(repo), "diff", "HEAD", "--no-ext-diff", "--binary"], check=True,
                              capture_output=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return hashlib.sha256(diff).hexdigest()
