"""A config-only LightGBM model on a data set written by the test: trained by the real training DAG, registered,
promoted by the real deployment DAG (gates, canary on a staging server) and served by a real model server."""

import datetime as dt
import json
import subprocess
import sys

import httpx
import numpy as np
import polars as pl
import pytest
import yaml
from mlflow import MlflowClient

from ml_pipeline.data.generator import write_day
from ml_pipeline.data.lake import join_uri
from ml_pipeline.deployment.client import ServingClient, free_port, running_server
from ml_pipeline.registry import mlflow_registry as registry
from ml_pipeline.training.trainer import to_model_input
from tests.integration.test_deployment import RUN_DAG as RUN_DEPLOYMENT_DAG
from tests.integration.test_training_dag import DAY, task_counts

pytestmark = pytest.mark.integration
MODEL = "loan_default"
ENDPOINT = "loan-default-api"
ADMIN_TOKEN = "loan-admin-token"  # the model server's; the serving_default connection carries it as its password
FEATURES = ["income", "loan_amount", "term_months", "purpose", "late_payments"]


def loan_day(day: dt.date, rows: int = 800) -> pl.DataFrame:
    """Loan applications of one day: numeric and string columns, missing values (null), a 0/1 ``defaulted``
    target."""
    rng = np.random.default_rng(day.toordinal() + 17)
    income = rng.lognormal(10.5, 0.5, rows)
    amount = rng.uniform(1_000, 40_000, rows)
    term = rng.choice([12.0, 36.0, 60.0], rows)
    purpose = rng.choice(["car", "home", "education", "debt"], rows)
    late = rng.poisson(0.7, rows).astype(float)
    late[rng.random(rows) < 0.1] = np.nan
    logit = (-3.0 + 2.5 * amount / income + 0.6 * np.nan_to_num(late) + 0.01 * term
             + np.where(purpose == "debt", 0.7, 0.0))
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return pl.DataFrame({
        "income": income, "loan_amount": amount, "term_months": term, "purpose": purpose,
        "late_payments": pl.Series(late).fill_nan(None),  # missing as null, as in a user's parquet files
        "applied_at": [start + dt.timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, rows)],
        "defaulted": (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int8),
    })


def loan_config() -> dict:
    """The whole model: LightGBM, three days of training, judged at deployment on the newest landed day."""
    return {
        "model_name": MODEL, "model_type": "lightgbm", "schedule": None,
        "data": {"source": MODEL, "lookback_days": 3, "target_column": "defaulted", "timestamp_column": "applied_at",
                 "features": FEATURES},
        "training": {"hyperparameters": {"n_estimators": 40, "num_leaves": 15, "learning_rate": 0.1}},
        "deployment": {"min_auc_threshold": 0.6, "endpoint_name": ENDPOINT, "holdout_days": 1,
                       "canary": {"requests": 4, "rows_per_request": 10}, "watch": {"window_days": 0}},
        "alerts": {"slack_connection": None, "email_connection": None},
    }


def deploy(env: dict, version: str) -> tuple[str, dict, str]:
    """Run the model's deployment DAG once with ``dag.test()`` in a fresh process: (state, task states, output)."""
    result = subprocess.run([sys.executable, "-c", RUN_DEPLOYMENT_DAG, f"model_deployment_{MODEL}",
                             json.dumps({"version": version})], env=env, capture_output=True, text=True, timeout=600)
    out = result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("RUN "), out[-5000:]
    states = json.loads(next(line for line in lines if line.startswith("STATES "))[7:])
    return lines[-1].split()[2], states, out


def test_a_lightgbm_model_trains_deploys_and_serves(services, tmp_path):
    layout, env = services
    dataset = join_uri(layout.lake.as_uri(), MODEL)
    days = [DAY + dt.timedelta(days=offset) for offset in (-2, -1, 0, 1)]  # trains on the first 3, judged on the 4th
    for day in days:
        write_day(loan_day(day), dataset, day)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / f"{MODEL}.yaml").write_text(yaml.safe_dump(loan_config()))
    port = free_port()
    env = {**env, "ML_PIPELINE_CONFIG_DIR": str(tmp_path / "configs"),
           "AIRFLOW_CONN_SERVING_DEFAULT": json.dumps(
               {"conn_type": "generic", "password": ADMIN_TOKEN,
                "extra": {"endpoints": {ENDPOINT: f"http://127.0.0.1:{port}"}}})}

    run_id, counts = task_counts(env, f"ml_training_{MODEL}")
    assert counts["train_model"] == counts["register_model"] == 1
    client = MlflowClient(layout.mlflow_url)
    challenger = client.get_model_version_by_alias(MODEL, registry.CHALLENGER)
    run_tags = client.get_run(challenger.run_id).data.tags  # the full lineage is on the run
    assert challenger.tags["lineage.run_id"] == run_id and run_tags["lineage.model_type"] == "lightgbm"
    assert "lineage.version.lightgbm" in run_tags
    assert not any("xgboost" in key for key in run_tags)
    assert float(challenger.tags["holdout_auc"]) >= 0.6
    run = client.get_run(challenger.run_id)
    assert run.data.tags[registry.MODEL_TYPE_TAG] == "lightgbm" and run.data.params["device"] == "cpu"
    assert "LightGBM trains on the CPU only" in run.data.tags["training.device_reason"]

    with running_server(MODEL, port, layout.mlflow_url, tmp_path / "serving.log", admin_token=ADMIN_TOKEN):
        state, states, out = deploy(env, challenger.version)
        assert state == "success", out[-5000:]
        assert states["run_canary"] == "success" and states["promote_challenger"] == "success", out[-5000:]
        assert registry.alias_version(client, MODEL, registry.CHAMPION).version == challenger.version

        production = ServingClient(f"http://127.0.0.1:{port}", admin_token=ADMIN_TOKEN)
        served = production.version()
        assert (served["version"], served["model_type"]) == (challenger.version, "lightgbm")
        holdout = loan_day(days[-1]).head(5)
        answer = httpx.post(f"{production.base_url}/predict", json={"rows": holdout.select(FEATURES).to_dicts()},
                            timeout=30).json()
    assert answer["model"] == MODEL and answer["version"] == challenger.version
    offline = registry.load_model(layout.mlflow_url, f"models:/{MODEL}/{challenger.version}")
    expected = offline.predict_proba(to_model_input(holdout, FEATURES))[:, 1]
    np.testing.assert_allclose(answer["scores"], expected, atol=1e-9)
