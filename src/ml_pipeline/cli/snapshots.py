"""``ml-pipeline gc``: delete training runs' snapshots past their model's ``lineage.keep_snapshots_days``.

The snapshots of the versions aliased ``champion``, ``previous_champion`` and ``challenger`` are never deleted,
whatever their age (``ml_pipeline.lineage.retention``). ``--dry-run`` lists what would go and deletes nothing.
Exit codes: 0 done; 1 MLflow unreachable (nothing deleted); 2 bad input (an unknown model, a config that does not
load).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ml_pipeline.cli.options import add_lake_option, add_tracking_uri_option, missing_lake

if TYPE_CHECKING:
    from ml_pipeline.config import ModelConfig
    from ml_pipeline.lineage.retention import GcPlan, ModelRetention

TRAINING_DAG_PREFIX = "ml_training_"
"""Mirrors ``TRAINING``'s prefix (``ml_pipeline_airflow.dag_kinds.training``): the core never imports Airflow."""


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``gc`` to the ``ml-pipeline`` parser."""
    gc = commands.add_parser("gc", help="delete old training snapshots (never the champion's or previous champion's)")
    gc.add_argument("--dry-run", action="store_true", help="list what would be deleted; delete nothing")
    gc.add_argument("--model", default=None, help="only this model (default: every model of the config dir)")
    gc.add_argument("--config-dir", type=Path, default=None, metavar="DIR",
                    help="folder of model configs (default: ML_PIPELINE_CONFIG_DIR, else config/model_configs)")
    add_lake_option(gc, "lake root whose runs/ folder holds the snapshots (env ML_LAKE_URI)")
    add_tracking_uri_option(gc, "MLflow tracking server whose aliases protect snapshots (env MLFLOW_TRACKING_URI)")
    gc.set_defaults(handler=collect_snapshots)


def collect_snapshots(args: argparse.Namespace) -> int:
    """Plan the deletion, print it, and (unless ``--dry-run``) delete; see the module's exit codes."""
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.errors import PermanentError, TransientError
    from ml_pipeline.lineage.retention import collect, plan_gc

    try:
        configs = model_configs(args.config_dir, args.model)
        rules = [model_rule(config, args.tracking_uri) for config in configs]
    except TransientError as exc:
        print(f"error: {exc}; nothing deleted", file=sys.stderr)
        return 1
    except (PermanentError, ValueError) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    problem = missing_lake(args.lake)
    if problem:  # "nothing to delete" would be a wrong answer
        print(f"error: {problem}", file=sys.stderr)
        return 2
    plan = plan_gc(to_uri(args.lake), rules)
    print_plan(plan, dry_run=args.dry_run)
    if not args.dry_run and plan.doomed:
        collect(plan)
        print(f"deleted {len(plan.doomed)} run folder(s), {_size(plan.doomed_bytes)} freed; each keeps a "
              "SNAPSHOT_DELETED.json for `reproduce` to name")
    return 0


def model_configs(folder: Path | None, model: str | None) -> list[ModelConfig]:
    """The configs whose runs are collected: every loadable one of ``folder``, or only ``model``'s.

    A config that does not load is skipped with a warning (its retention is unknown: its runs stay).

    Raises:
        ConfigError: ``model`` is not a model of ``folder``.
    """
    from ml_pipeline.config import ConfigError, config_dir, config_files, find_model_config, load_model_configs

    folder = folder or config_dir()
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder of model configs; --config-dir (or ML_PIPELINE_CONFIG_DIR) "
                          "names it")
    if model is not None:
        return [find_model_config(model, folder, fix="check --model or --config-dir")[0]]
    configs, errors = load_model_configs(config_files(folder))
    for path in errors:
        print(f"warning: {path} does not load (`ml-pipeline check-config`): its model's runs are kept",
              file=sys.stderr)
    return list(configs.values())


def model_rule(config: ModelConfig, tracking_uri: str) -> ModelRetention:
    """``config``'s retention rule, with the snapshots of its aliased versions looked up in MLflow."""
    from mlflow import MlflowClient

    from ml_pipeline.cli.training import in_process_id
    from ml_pipeline.lineage.retention import ModelRetention, protected_snapshots

    protected, blocked = protected_snapshots(MlflowClient(tracking_uri), config.model_name)
    return ModelRetention(config.model_name, config.lineage.keep_snapshots_days,
                          (f"{TRAINING_DAG_PREFIX}{config.model_name}", in_process_id(config.model_name)),
                          protected, blocked)


def print_plan(plan: GcPlan, dry_run: bool) -> None:
    """Print what goes (model, run folder, size, age, why) with the total, then what is kept whatever its age."""
    print(("would delete (dry run):" if dry_run else "deleting:") if plan.doomed else "nothing to delete")
    for doomed in plan.doomed:
        print(f"  {doomed.model:<20} {doomed.run_folder_uri}  {_size(doomed.bytes):>9}  {doomed.age_days:6.1f} d  "
              f"{doomed.reason}")
    print(f"total: {len(plan.doomed)} run folder(s), {_size(plan.doomed_bytes)}")
    if plan.protected:
        print("protected (kept whatever their age):")
    for kept in plan.protected:
        print(f"  {kept.model:<20} {kept.run_folder_uri}  {_size(kept.bytes):>9}  {kept.age_days:6.1f} d  "
              f"{kept.reason}")
    young = sum(folder.bytes for folder in plan.young)
    print(f"kept: {len(plan.young)} run folder(s) younger than their model's keep_snapshots_days, {_size(young)}")
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"
