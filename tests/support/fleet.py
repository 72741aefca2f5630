"""A fleet of small click-through models for the tests and benchmarks that run many pipelines at once.

Each is the checkout's ``config/model_configs/recommendation.yaml`` renamed ``ctr_NN``: two days of impressions
(1,500 rows a day, so that what is measured is the platform, not XGBoost), ten trees, priority ``NN + 1``, registry
only (twenty model servers would not fit two cores). One model in five has ``training.device: auto`` (the `gpu` pool
when the platform says it has a GPU), the others ``cpu`` (the `training` pool).
"""

from __future__ import annotations

import copy
import datetime as dt
import shutil
from pathlib import Path

import yaml

from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri

CONFIG = Path(__file__).resolve().parents[2] / "config"  # the checkout's, whatever ML_PIPELINE_CONFIG_DIR says
DAY = dt.date(2026, 11, 20)


def on_auto(index: int) -> bool:
    return index % 5 == 0


def write_fleet(folder: Path, lake: Path, count: int = 20, rules: bool = True) -> dict[str, dict]:
    """Write ``count`` model configs into ``folder`` (and the checkout's validation rules beside it, unless ``rules``
    is false: a running platform keeps its own) and their data into ``lake``; return each model's config by training
    DAG id."""
    base = yaml.safe_load((CONFIG / "model_configs" / "recommendation.yaml").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    if rules:
        shutil.copy(CONFIG / "data_validation_rules.yaml", folder.parent)
    configs = {}
    for i in range(count):
        raw = copy.deepcopy(base)
        raw.update(model_name=f"ctr_{i:02d}", schedule=None, enabled=True)  # recommendation.yaml ships disabled
        raw["data"]["lookback_days"] = 2
        raw["training"]["hyperparameters"]["n_estimators"] = 10
        raw["training"].update(device="auto" if on_auto(i) else "cpu", priority_weight=i + 1)
        raw["deployment"].pop("endpoint_name")
        (folder / f"ctr_{i:02d}.yaml").write_text(yaml.safe_dump(raw))
        configs[f"ml_training_ctr_{i:02d}"] = raw
    generate_dataset(join_uri(lake.as_uri(), "impressions"), DAY, days=2, rows_per_day=1_500, kind="impressions")
    return configs
