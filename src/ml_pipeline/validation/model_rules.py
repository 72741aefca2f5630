"""The effective rules of one model: global defaults, what its config implies, and its own rules."""

from __future__ import annotations

from pathlib import Path

from ml_pipeline.config import ModelConfig, named_rules_dir
from ml_pipeline.validation.rules import RuleSet, merge_rules, read_rules_file

GLOBAL_RULES_FILE = "data_validation_rules.yaml"
SCHEMAS_DIR = "schemas"


def rules_dir(config_path: Path) -> Path:
    """Folder holding ``data_validation_rules.yaml`` and ``schemas/``.

    ``ML_PIPELINE_RULES_DIR``, else the parent of the model config's folder (``config/`` for
    ``config/model_configs/<model>.yaml``).

    Raises:
        ConfigError: ``ML_PIPELINE_RULES_DIR`` names no folder (a typo would drop every rule of the files silently).
    """
    return named_rules_dir() or Path(config_path).resolve().parent.parent


def derived_rules(config: ModelConfig) -> dict:
    """Rules every model gets from its config alone: inputs exist and hold values, a 0/1 target, a datetime time."""
    from ml_pipeline.features.registry import required_input_columns  # polars: not at DAG parse time

    data = config.data
    # an input with no value in a day's partition: an error (in one slice only a warning: RuleSet.for_slice), never
    # for the slicing column (null in every row of the `__null__` slice)
    columns: dict[str, dict] = {name: {"required": True, "empty": "allow" if name == data.partition_by else "error"}
                                for name in required_input_columns(data.features, data.feature_functions)}
    columns[data.target_column] = {"dtype": "int", "nullable": False, "categories": {"allowed": [0, 1]},
                                   "rate": {"min": 0.0001, "max": 0.9999}}
    columns[data.timestamp_column] = {"dtype": "datetime", "nullable": False}
    return {"columns": columns, "freshness": {"column": data.timestamp_column},
            "completeness": {"critical_columns": [data.target_column, data.timestamp_column]}}


def model_rule_files(config: ModelConfig, config_path: Path) -> list[Path]:
    """The model's own rules files that exist: ``schemas/<model>.yaml`` or ``.json``."""
    folder = rules_dir(config_path) / SCHEMAS_DIR
    return [p for p in (folder / f"{config.model_name}.yaml", folder / f"{config.model_name}.json") if p.exists()]


def rules_for_model(config: ModelConfig, config_path: Path) -> RuleSet:
    """Merge global defaults, derived rules, ``validation:`` of the model config and ``schemas/<model>.*``."""
    return _merge(config, config_path, [derived_rules(config)])


def validation_schedule(config: ModelConfig, config_path: Path) -> str | None:
    """The cron of the model's ``data_validation`` DAG, read without importing any data library (parse time)."""
    return _merge(config, config_path, []).schedule


def _merge(config: ModelConfig, config_path: Path, implied: list[dict]) -> RuleSet:
    folder = rules_dir(config_path)
    sources = [(str(folder / GLOBAL_RULES_FILE), read_rules_file(folder / GLOBAL_RULES_FILE))]
    sources += [(f"rules implied by {config_path}", rules) for rules in implied]
    if config.validation is not None:
        sources.append((f"{config_path} (validation:)", config.validation))
    sources += [(str(path), read_rules_file(path)) for path in model_rule_files(config, config_path)]
    return merge_rules(*sources)
