"""Models that are only a YAML file: the recommendation model, and one on a data set written by the test."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline.config import config_dir
from ml_pipeline.data.generator import generate_dataset, write_day
from ml_pipeline.data.lake import join_uri
from tests.integration.test_training_dag import DAY, run_dag_test, task_counts

pytestmark = pytest.mark.integration


def test_recommendation_model_trains_from_raw_columns(services):
    layout, env = services
    generate_dataset(join_uri(layout.lake.as_uri(), "impressions"), DAY, days=7, rows_per_day=6_000,
                     kind="impressions")
    run_id = run_dag_test(env, "ml_training_recommendation")
    challenger = MlflowClient(layout.mlflow_url).get_model_version_by_alias("recommendation", "challenger")
    assert challenger.tags["lineage.run_id"] == run_id
    assert float(challenger.tags["holdout_auc"]) >= 0.6


def churn_day(day: dt.date, rows: int = 1_500) -> pl.DataFrame:
    """A user's own data set: numeric and string columns, missing values, a 0/1 target."""
    rng = np.random.default_rng(day.toordinal())
    tenure = rng.integers(1, 60, rows).astype(float)
    plan = rng.choice(["basic", "plus", "pro"], rows)
    tickets = rng.poisson(1.5, rows).astype(float)
    tickets[rng.random(rows) < 0.1] = np.nan
    logit = -1.0 - 0.05 * tenure + 0.5 * np.nan_to_num(tickets) + np.where(plan == "basic", 0.8, 0.0)
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return pl.DataFrame({
        "tenure_months": tenure, "plan": plan, "support_tickets": tickets,
        "region": rng.choice(["emea", "amer", "apac"], rows),
        "ts": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, rows)],
        "churned": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8),
    })


def test_a_config_only_model_on_a_dataset_written_by_the_test(services, tmp_path):
    layout, env = services
    dataset = join_uri(layout.lake.as_uri(), "churn")
    for offset in range(3):
        write_day(churn_day(DAY - dt.timedelta(days=offset)), dataset, DAY - dt.timedelta(days=offset))
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "churn.yaml").write_text(yaml.safe_dump({
        "model_name": "churn", "data": {"source": "churn", "lookback_days": 3, "target_column": "churned",
                                        "timestamp_column": "ts", "partition_by": "region",
                                        "features": ["tenure_months", "plan", "support_tickets"]},
        "deployment": {"min_auc_threshold": 0.6},
    }))
    (configs / "fraud_detection.yaml").write_text((config_dir() / "fraud_detection.yaml").read_text())
    run_id, counts = task_counts({**env, "ML_PIPELINE_CONFIG_DIR": str(configs)}, "ml_training_churn")
    assert counts["load_data"] == counts["validate_data"] == counts["engineer_features"] == 3  # emea, amer, apac
    assert counts["train_model"] == 1
    assert counts["load_data labels"] == ["amer", "apac", "emea"]
    version = MlflowClient(layout.mlflow_url).get_model_version_by_alias("churn", "challenger")
    assert version.tags["lineage.run_id"] == run_id
    assert float(version.tags["holdout_auc"]) >= 0.6
    assert "region=amer/snapshot.parquet" in version.tags["lineage.data.snapshot_uri"]
