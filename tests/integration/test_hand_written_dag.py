"""The hand-written example DAG (docs/examples/hand_written_training.py) with ``dag.test()`` against a real MLflow
server and PostgreSQL: it registers a challenger with its lineage, passes only references through XCom, and bad
data stops it at validation before anything trains.

The example is copied into a DAGs folder of its own, as a team would deploy it (``dag.test()`` runs only DAGs of a
bundle). It trains ``fraud_detection``; here its config is copied under another model name, into a lake of its own,
so that its MLflow runs and versions never mix with the generated training DAG's tests on the same server.
"""

import ast
import datetime as dt
import json
import shutil
import subprocess
import sys

import polars as pl
import pytest
from mlflow import MlflowClient

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset
from ml_pipeline.data.lake import join_uri
from tests.conftest import REPO_ROOT
from tests.support.services import on_own_lake

pytestmark = pytest.mark.integration
EXAMPLE = REPO_ROOT / "docs" / "examples" / "hand_written_training.py"
DAG_ID = "backfill_training_fraud_detection"
MODEL = "fraud_backfill_example"
DAY = dt.date(2026, 9, 20)
BAD_DAY = dt.date(2026, 6, 20)  # a window of its own: nothing in it was trained on
RUN_DAG = """
import datetime as dt, json, sys
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from sqlalchemy import select

dag = DagBag().dags[sys.argv[1]]  # the DAGs folder: AIRFLOW__CORE__DAGS_FOLDER
run = dag.test(logical_date=dt.datetime.fromisoformat(sys.argv[2]))
with create_session() as session:
    xcoms = session.scalars(select(XComModel).where(XComModel.dag_id == dag.dag_id,
                                                    XComModel.run_id == run.run_id)).all()
    print("XCOMS", json.dumps({f"{x.task_id}.{x.key}": XComModel.deserialize_value(x) for x in xcoms
                               if x.task_id in ("train_model", "register_model")}))
    events = session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id == dag.dag_id,
                                                      AssetEvent.source_run_id == run.run_id)).all()
    print("EVENTS", json.dumps([[event.asset.name, event.extra] for event in events]))
print("STATES", {ti.task_id: [ti.state, ti.try_number] for ti in run.get_task_instances()})
print("RUN", run.run_id, run.state)
"""


@pytest.fixture(scope="module")
def backfill_env(services, tmp_path_factory):
    """The platform environment with the example as its only DAG, its config renamed to ``MODEL``, a lake of its
    own."""
    layout, env = services
    root = tmp_path_factory.mktemp("hand_written")
    dags, configs, rules, lake = root / "dags", root / "configs", root / "rules", root / "lake"
    (rules / "schemas").mkdir(parents=True)
    configs.mkdir()
    dags.mkdir()
    shutil.copy(EXAMPLE, dags)
    source = config_dir() / "fraud_detection.yaml"
    (configs / "fraud_detection.yaml").write_text(
        source.read_text().replace("model_name: fraud_detection", f"model_name: {MODEL}"))
    shutil.copy(config_dir().parent / "data_validation_rules.yaml", rules)
    shutil.copy(config_dir().parent / "schemas" / "fraud_detection.yaml", rules / "schemas" / f"{MODEL}.yaml")
    env = {**on_own_lake(env, lake), "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
           "ML_PIPELINE_CONFIG_DIR": str(configs), "ML_PIPELINE_RULES_DIR": str(rules)}
    return layout, env, lake, configs / "fraud_detection.yaml"


def run_example(env: dict, day: dt.date) -> dict:
    """``dag.test()`` the example for the window ending ``day`` in a fresh process; what the run left behind."""
    logical_date = dt.datetime.combine(day, dt.time(6), tzinfo=dt.UTC).isoformat()
    result = subprocess.run([sys.executable, "-c", RUN_DAG, DAG_ID, logical_date], env=env, capture_output=True,
                            text=True, timeout=900, cwd=REPO_ROOT)
    lines = result.stdout.splitlines()
    found = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines
             if line.startswith(("EVENTS ", "XCOMS ", "STATES ", "RUN "))}
    assert "RUN" in found, result.stdout[-3000:] + result.stderr[-3000:]
    run_id, state = found["RUN"].split()
    return {"run_id": run_id, "state": state, "states": ast.literal_eval(found["STATES"]),
            "xcoms": json.loads(found["XCOMS"]), "events": json.loads(found["EVENTS"]),
            "log": result.stdout + result.stderr}


@pytest.fixture(scope="module")
def backfill(backfill_env):
    layout, env, lake, _ = backfill_env
    generate_dataset(join_uri(lake.as_uri(), "transactions"), DAY, days=7, rows_per_day=1_500)
    run = run_example(env, DAY)
    assert run["state"] == "success", run["log"][-6000:]
    return layout, run


def test_backfill_registers_a_challenger_with_lineage(backfill, backfill_env):
    layout, run = backfill
    *_, config_path = backfill_env
    client = MlflowClient(layout.mlflow_url)
    challenger = client.get_model_version_by_alias(MODEL, "challenger")
    assert challenger.aliases == ["challenger"]  # never champion: only the deployment DAG promotes
    tags = {**client.get_run(challenger.run_id).data.tags, **challenger.tags}  # the run keeps the full lineage
    assert tags["lineage.dag_id"] == DAG_ID and challenger.tags["lineage.run_id"] == run["run_id"]
    assert tags["lineage.data.partitions"].split(",")[-1].endswith(f"transactions/{DAY}")
    assert len(tags["lineage.data.hash"]) == 64
    assert tags["lineage.config.hash"] == load_model_config(config_path).content_hash()
    assert float(tags["holdout_auc"]) == pytest.approx(client.get_run(challenger.run_id).data.metrics["holdout_auc"])
    assert run["events"] == [["fraud_backfill_example_challenger", {"model": MODEL, "version": challenger.version}]]


def test_operators_pass_references_not_data(backfill):
    layout, run = backfill
    xcoms = run["xcoms"]
    trained, registered = xcoms["train_model.return_value"], xcoms["register_model.return_value"]
    assert set(trained) == {"mlflow_run_id", "model_uri", "train_rows", "holdout_rows"}
    assert trained["model_uri"].startswith("models:/")
    assert MlflowClient(layout.mlflow_url).get_run(trained["mlflow_run_id"]).info.status == "FINISHED"
    assert set(xcoms["train_model.evaluation"]) == {"metrics", "champion", "decision"}
    assert registered["model_uri"] == f"models:/{MODEL}/{registered['version']}"
    assert len(json.dumps(xcoms)) < 4_000  # ids, URIs and a few metrics: never a data frame


def test_bad_data_fails_validation_at_once_without_training(backfill, backfill_env):
    layout, env, lake, _ = backfill_env
    client = MlflowClient(layout.mlflow_url)
    versions = len(client.search_model_versions(f"name = '{MODEL}'"))
    generate_dataset(join_uri(lake.as_uri(), "transactions"), BAD_DAY, days=7, rows_per_day=1_500)
    broken = next((lake / "transactions" / BAD_DAY.isoformat()).glob("*.parquet"))
    pl.read_parquet(broken).drop("merchant_category").write_parquet(broken)

    run = run_example(env, BAD_DAY)

    assert run["state"] == "failed"
    assert run["states"]["validate_data"] == ["failed", 1]  # a permanent failure: no retry
    for task in ("engineer_features", "train_model", "register_model"):
        assert run["states"][task][0] == "upstream_failed", task
    assert "merchant_category" in run["log"]
    assert client.search_runs([client.get_experiment_by_name(MODEL).experiment_id],
                              f"tags.`lineage.run_id` = '{run['run_id']}'") == []
    assert len(client.search_model_versions(f"name = '{MODEL}'")) == versions

