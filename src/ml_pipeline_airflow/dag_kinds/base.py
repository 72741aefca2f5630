"""What a DAG kind is: an id pattern, which model configs it applies to, and how to build one DAG.

A kind knows nothing about folders, parsing contexts or broken configs: the loader (``loader.py``) owns those,
for every kind alike. Adding a DAG kind is one module that defines a ``DagKind`` plus one line in ``KINDS``
(``__init__.py``), its prefix in ``ml_pipeline_airflow.dag_ids`` and one thin file in ``airflow/dags/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline_airflow import dag_ids

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from ml_pipeline.config import ModelConfig


MAX_DAG_ID_LENGTH = 250  # Airflow's limit


def _always(config: ModelConfig) -> bool:
    return True


@dataclass(frozen=True)
class DagKind:
    """One kind of per-model DAG (training, data validation, features, deployment, …).

    Attributes:
        name: What the kind is called in messages and tags (``training``).
        prefix: The dag id is ``<prefix>_<model_name>``; a config that cannot be read gets
            ``<prefix>_<file stem>``.
        build: Builds the model's DAG from its validated config and the config file's path.
        applies: Whether a valid config gets a DAG of this kind (default: every config).
        shows_unreadable_configs: Whether a config file that cannot be read at all gets an error DAG of this
            kind (kinds that apply to only some configs cannot tell, so they do not).
        deadline: Which of the model's ``alerts`` deadlines (``alerts.deadline_for``) its runs have; None: none.
    """

    name: str
    prefix: str
    build: Callable[[ModelConfig, Path], DAG]
    applies: Callable[[ModelConfig], bool] = _always
    shows_unreadable_configs: bool = True
    deadline: str | None = None

    def dag_id(self, model_name: str) -> str:
        """The dag id of ``model_name``'s DAG of this kind."""
        return dag_ids.dag_id(self.prefix, model_name)

    def error_dag_id(self, config_path: Path) -> str:
        """The dag id under which an unreadable config file shows its error (shortened to Airflow's limit)."""
        dag_id = self.dag_id("".join(c if c.isalnum() or c in "_-." else "_" for c in config_path.stem))
        if len(dag_id) <= MAX_DAG_ID_LENGTH:
            return dag_id
        digest = hashlib.sha256(dag_id.encode()).hexdigest()[:8]
        return f"{dag_id[:MAX_DAG_ID_LENGTH - 9]}_{digest}"
