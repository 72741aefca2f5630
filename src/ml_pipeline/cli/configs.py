"""``ml-pipeline check-config`` and ``new-model``: a model's YAML config, checked and started without Airflow."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``check-config`` and ``new-model`` to the ``ml-pipeline`` parser."""
    check = commands.add_parser("check-config", help="validate model configs without starting Airflow")
    check.add_argument("files", nargs="*", type=Path, help="config files (default: every *.yaml of the config dir)")
    check.set_defaults(handler=check_config)
    new = commands.add_parser("new-model", help="write a commented starter config for a new model")
    new.add_argument("name", help="model name: lowercase letters, digits and _")
    new.set_defaults(handler=new_model)


def check_config(args: argparse.Namespace) -> int:
    """Check each config, its validation rules and its hyperparameters; one line per config, errors on stderr.

    Returns:
        0 when every config is valid, 1 otherwise (or when there is none).
    """
    from ml_pipeline.config import config_dir, config_files, load_model_configs, misnamed_config_files
    from ml_pipeline.estimators.base import InvalidHyperparametersError
    from ml_pipeline.estimators.registry import get_estimator
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.rules import RulesError

    files = args.files or config_files() + misnamed_config_files()
    if not files:
        folder = config_dir()
        print(f"no model configs found in {folder}: " + (
            "add one (`ml-pipeline new-model <name>`)" if folder.is_dir() else
            "no such folder; ML_PIPELINE_CONFIG_DIR names the folder of model configs (default config/model_configs), "
            "or name the files: `ml-pipeline check-config <file.yaml> …`"), file=sys.stderr)
        return 1
    configs, errors = load_model_configs(files)
    for path, config in list(configs.items()):
        try:
            rules_for_model(config, path)
            get_estimator(config.model_type).check_hyperparameters(config.training.hyperparameters)
        except InvalidHyperparametersError as exc:
            errors[path] = f"{path}: {exc}"
        except RulesError as exc:
            errors[path] = str(exc)
        except Exception as exc:  # noqa: BLE001 - one file's unexpected failure never hides the other files' report
            errors[path] = f"{path}: cannot check it: {type(exc).__name__}: {exc}"
        if path in errors:
            del configs[path]
    for path, config in configs.items():
        print(f"ok     {path}  ->  model {config.model_name}")
    for error in errors.values():
        print(f"error  {error}", file=sys.stderr)
    return 1 if errors else 0


def new_model(args: argparse.Namespace) -> int:
    """Write ``<config dir>/<name>.yaml`` from the commented starter; refuse an existing file or an invalid name."""
    from ml_pipeline.config import MODEL_NAME_PATTERN, ConfigError, config_dir, load_model_config, starter_config

    if not re.fullmatch(MODEL_NAME_PATTERN, args.name) or len(args.name) > 200:  # before anything is written
        print(f"error: model name {args.name!r}: use lowercase letters, digits and _, starting with a letter "
              "(e.g. churn_v2); it names the config file and the model's DAGs. Nothing was written.",
              file=sys.stderr)
        return 1
    if not config_dir().is_dir():
        print(f"error: {config_dir()} does not exist: create it, or set ML_PIPELINE_CONFIG_DIR to the folder of the "
              "model configs. Nothing was written.", file=sys.stderr)
        return 1
    path = config_dir() / f"{args.name}.yaml"
    if path.exists():
        print(f"error: {path} exists already; pick another name or edit it", file=sys.stderr)
        return 1
    path.write_text(starter_config(args.name))
    try:
        load_model_config(path)
    except ConfigError as exc:
        path.unlink()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}: edit data.source, data.target_column and data.features, then `ml-pipeline check-config`")
    return 0
