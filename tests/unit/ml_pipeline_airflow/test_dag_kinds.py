"""The loader turns a folder of configs into DAGs of every kind; a bad config never hides the others."""

import shutil

import pytest
import yaml

from ml_pipeline.config import config_dir
from ml_pipeline_airflow.dag_kinds import (
    CONFIG_ERROR_TAG,
    DEPLOYMENT,
    FEATURES,
    KINDS,
    TRAINING,
    VALIDATION,
    build_dags,
)
from ml_pipeline_airflow.dag_kinds import loader as kinds_loader


def build_all_training_dags(folder):
    return build_dags(TRAINING, folder)


def build_all_feature_dags(folder):
    return build_dags(FEATURES, folder)

FRAUD = config_dir() / "fraud_detection.yaml"


def write_model(folder, name: str, **overrides) -> None:
    raw = yaml.safe_load(FRAUD.read_text())
    raw["deployment"]["endpoint_name"] = f"{name.replace('_', '-')}-api"  # each model serves its own endpoint
    raw.update(model_name=name, **overrides)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw))


@pytest.fixture
def configs(tmp_path):
    for i in range(3):
        write_model(tmp_path, f"model_{i}", schedule=f"0 {i} * * *", retries=i + 1)
    return tmp_path


def test_one_dag_per_config_with_schedule_retries_and_tags_from_it(configs):
    dags = build_all_training_dags(configs)
    assert sorted(dags) == ["ml_training_model_0", "ml_training_model_1", "ml_training_model_2"]
    dag = dags["ml_training_model_2"]
    assert dag.timetable.timetable.expression == "0 2 * * *"
    assert set(dag.tags) == {"ml", "training", "model_2"}
    assert {t.retries for t in dag.tasks} == {3}


def test_a_broken_config_becomes_an_error_dag_and_the_others_still_load(configs):
    (configs / "broken.yaml").write_text("model_name: broken\ndata: {target_column: y}\n")
    dags = build_all_training_dags(configs)
    assert {"ml_training_model_0", "ml_training_model_1", "ml_training_model_2"} <= set(dags)
    error_dag = dags["ml_training_broken"]
    assert CONFIG_ERROR_TAG in error_dag.tags
    assert "broken.yaml" in error_dag.description and "field 'data.source': Field required" in error_dag.description
    assert [t.task_id for t in error_dag.tasks] == ["report_config_error"]


def test_duplicate_model_names_are_an_error_naming_both_files(configs):
    shutil.copy(configs / "model_1.yaml", configs / "zz_copy.yaml")
    dags = build_all_training_dags(configs)
    assert "already used by" in dags["ml_training_zz_copy"].description
    assert "model_1.yaml" in dags["ml_training_zz_copy"].description
    assert CONFIG_ERROR_TAG not in dags["ml_training_model_1"].tags


def test_a_file_whose_name_another_model_took_still_shows_its_error(configs):
    """``a.yaml`` says ``model_name: model_1``: ``model_1.yaml`` is the duplicate, and its error is not hidden."""
    (configs / "model_1.yaml").rename(configs / "aa_first.yaml")
    write_model(configs, "model_1")
    dags = build_all_training_dags(configs)
    assert CONFIG_ERROR_TAG not in dags["ml_training_model_1"].tags  # aa_first.yaml's model
    error = dags["ml_training_model_1_config_error"]
    assert CONFIG_ERROR_TAG in error.tags and "model_1.yaml: field 'model_name'" in error.description
    assert "already used by" in error.description and "aa_first.yaml" in error.description


def test_a_yml_file_shows_as_an_error_saying_to_rename_it(configs):
    (configs / "model_2.yaml").rename(configs / "model_2.yml")
    dags = build_all_training_dags(configs)
    error = dags["ml_training_model_2"]
    assert CONFIG_ERROR_TAG in error.tags and "rename it to model_2.yaml" in error.description


def test_partition_by_maps_load_validate_and_features_and_combines_for_training(tmp_path):
    write_model(tmp_path, "by_region", data={**yaml.safe_load(FRAUD.read_text())["data"], "partition_by": "region"})
    dag = build_all_training_dags(tmp_path)["ml_training_by_region"]
    mapped = {t.task_id for t in dag.tasks if t.is_mapped}
    assert mapped == {"load_data", "validate_data", "wait_for_features", "engineer_features"}
    assert dag.get_task("list_partitions").downstream_task_ids == {"load_data"}
    assert dag.get_task("combine_partitions").downstream_task_ids >= {"train_model"}
    assert dag.get_task("validate_data").downstream_task_ids == {"wait_for_features"}
    assert "engineer_features" in dag.get_task("wait_for_features").downstream_task_ids


def test_a_model_without_derived_features_keeps_its_clock_and_gets_no_feature_dag(tmp_path):
    write_model(tmp_path, "raw_only", data={**yaml.safe_load(FRAUD.read_text())["data"],
                                            "features": ["amount", "merchant_category"]}, monitoring={})
    write_model(tmp_path, "hourly_features", schedule=None, feature_store={"schedule": "30 * * * *"},
                monitoring={"retrain_on": []})
    write_model(tmp_path, "clock_only", schedule="0 3 * * *", data={**yaml.safe_load(FRAUD.read_text())["data"],
                "features": ["amount"]}, monitoring={"retrain_on": []})
    assert sorted(build_all_feature_dags(tmp_path)) == ["feature_engineering_hourly_features"]
    dags = build_all_training_dags(tmp_path)
    # raw columns only: its clock, or a monitoring check's retraining request
    assert dags["ml_training_raw_only"].timetable.timetable.expression == "0 2 * * *"
    assert [a.name for a in dags["ml_training_raw_only"].timetable.asset_condition.objects] == [
        "raw_only_retrain_requested"]
    assert "wait_for_features" not in dags["ml_training_raw_only"].task_ids
    # no cron and no retraining on evidence: the features' asset alone starts training
    assert [a.name for a in dags["ml_training_hourly_features"].timetable.asset_condition.objects] == [
        "hourly_features_features"]
    assert dags["ml_training_clock_only"].timetable.expression == "0 3 * * *"  # nothing but its cron


def test_training_takes_its_pool_and_priority_from_the_config(tmp_path, monkeypatch):
    write_model(tmp_path, "named_pool", training={"pool": "big_jobs", "priority_weight": 7})
    write_model(tmp_path, "auto_model")
    write_model(tmp_path, "cpu_model", training={"device": "cpu"})
    train = build_all_training_dags(tmp_path)["ml_training_named_pool"].get_task("train_model")
    assert (train.pool, train.priority_weight, train.weight_rule) == ("big_jobs", 7, "absolute")
    monkeypatch.setenv("ML_PLATFORM_GPUS", "0")
    dags = build_all_training_dags(tmp_path)
    assert dags["ml_training_auto_model"].get_task("train_model").pool == "training"
    assert dags["ml_training_auto_model"].get_task("load_data").pool == "default_pool"
    monkeypatch.setenv("ML_PLATFORM_GPUS", "2")  # the platform has GPUs: auto takes the gpu pool, cpu never does
    write_model(tmp_path, "cpu_only_estimator", model_type="lightgbm")  # device auto, but LightGBM is CPU-only
    dags = build_all_training_dags(tmp_path)
    assert dags["ml_training_auto_model"].get_task("train_model").pool == "gpu"
    assert dags["ml_training_cpu_model"].get_task("train_model").pool == "training"
    assert dags["ml_training_cpu_only_estimator"].get_task("train_model").pool == "training"


def test_a_gpu_model_on_a_platform_without_gpus_is_a_config_error_not_a_task_waiting_forever(tmp_path, monkeypatch):
    write_model(tmp_path, "needs_gpu", training={"device": "gpu"})
    monkeypatch.setenv("ML_PLATFORM_GPUS", "0")
    dag = build_all_training_dags(tmp_path)["ml_training_needs_gpu"]
    assert CONFIG_ERROR_TAG in dag.tags
    assert "needs_gpu.yaml: field 'training.device': gpu, but the platform has no GPU" in dag.description
    monkeypatch.setenv("ML_PLATFORM_GPUS", "1")
    assert build_all_training_dags(tmp_path)["ml_training_needs_gpu"].get_task("train_model").pool == "gpu"


def all_dags(folder) -> dict:
    return {dag_id: dag for kind in KINDS for dag_id, dag in build_dags(kind, folder).items()}


def test_every_kind_has_its_own_id_pattern():
    assert [kind.dag_id("m") for kind in KINDS] == [
        "data_validation_m", "feature_engineering_m", "ml_training_m", "model_deployment_m", "model_monitoring_m"]
    assert DEPLOYMENT.dag_id("fraud_detection") == "model_deployment_fraud_detection"
    assert VALIDATION.name == "data-validation"


def test_a_bad_cron_is_a_config_error_of_that_model_and_every_other_dag_still_loads(configs):
    write_model(configs, "bad_cron", schedule="not a cron")
    dags = all_dags(configs)
    for kind in KINDS:
        assert {kind.dag_id(f"model_{i}") for i in range(3)} <= set(dags), kind.name
        assert not any(CONFIG_ERROR_TAG in dags[kind.dag_id(f"model_{i}")].tags for i in range(3))
    error = dags["ml_training_bad_cron"]
    assert CONFIG_ERROR_TAG in error.tags
    assert "bad_cron.yaml" in error.description and "field 'schedule'" in error.description
    assert "'not a cron' is not a cron expression" in error.description


def overflowing_watch(monkeypatch, name: str) -> None:
    """Deploy a config as if check-config had let ``timeout_hours: 1e300`` through (an older platform did)."""
    real = kinds_loader.load_model_configs

    def loaded_without_the_bound(paths):
        configs, errors = real(paths)
        for path, config in configs.items():
            if config.model_name == name:
                watch = config.deployment.watch.model_copy(update={"timeout_hours": 1e300})
                configs[path] = config.model_copy(update={"deployment": config.deployment.model_copy(
                    update={"watch": watch})})
        return configs, errors

    monkeypatch.setattr(kinds_loader, "load_model_configs", loaded_without_the_bound)


def test_a_dag_that_fails_to_build_is_that_models_config_error_dag_of_that_kind_only(configs, monkeypatch):
    overflowing_watch(monkeypatch, "model_1")
    dags = all_dags(configs)
    broken = dags["model_deployment_model_1"]
    assert CONFIG_ERROR_TAG in broken.tags and "deployment" in broken.tags
    assert "model_1.yaml" in broken.description and "OverflowError" in broken.description
    assert [t.task_id for t in broken.tasks] == ["report_config_error"]
    for name in ("model_0", "model_2"):  # every other model keeps its deployment DAG (and rollback)
        assert "watch_live_performance" in dags[f"model_deployment_{name}"].task_ids
    assert CONFIG_ERROR_TAG not in dags["ml_training_model_1"].tags  # the same model's other kinds still load
    assert CONFIG_ERROR_TAG not in dags["data_validation_model_1"].tags


def test_an_unreadable_config_shows_its_error_in_every_kind_that_applies_to_every_model(configs):
    (configs / "broken.yaml").write_text("model_name: broken\ndata: {target_column: y}\n")
    dags = all_dags(configs)
    assert {"ml_training_broken", "data_validation_broken", "model_deployment_broken"} <= set(dags)
    assert "feature_engineering_broken" not in dags  # whether it would have derived features is unknowable
    assert all(CONFIG_ERROR_TAG in dags[d].tags for d in dags if d.endswith("_broken"))


def test_only_the_dag_airflow_asks_for_is_built(configs, monkeypatch):
    monkeypatch.setenv("_AIRFLOW_PARSING_CONTEXT_DAG_ID", "ml_training_model_1")  # as when a task runs
    assert sorted(build_dags(TRAINING, configs)) == ["ml_training_model_1"]
    assert build_dags(DEPLOYMENT, configs) == {}


def test_a_dag_that_fails_inside_its_with_block_never_reaches_a_dagbag_half_built(configs, tmp_path):
    """Airflow registers every DAG whose ``with`` block exits, even by an exception: the loader's must not be."""
    from airflow.dag_processing.dagbag import DagBag

    dag_file = tmp_path / "dags" / "deployment_dags.py"
    dag_file.parent.mkdir()
    dag_file.write_text(f"""
from pathlib import Path
from ml_pipeline_airflow.dag_kinds import DEPLOYMENT, build_dags, loader

real = loader.load_model_configs


def overflowing(paths):  # model_1's watch as an older check-config let it through
    configs, errors = real(paths)
    for path, config in configs.items():
        if config.model_name == "model_1":
            watch = config.deployment.watch.model_copy(update={{"timeout_hours": 1e300}})
            configs[path] = config.model_copy(update={{"deployment": config.deployment.model_copy(
                update={{"watch": watch}})}})
    return configs, errors


loader.load_model_configs = overflowing
globals().update(build_dags(DEPLOYMENT, Path({str(configs)!r})))
loader.load_model_configs = real
""")
    for _ in range(3):  # which of two same-id DAGs a DagBag keeps varied from parse to parse
        dagbag = DagBag(dag_folder=str(dag_file.parent))
        assert dagbag.import_errors == {}
        broken = dagbag.dags["model_deployment_model_1"]
        assert CONFIG_ERROR_TAG in broken.tags and broken.task_ids == ["report_config_error"]
        assert "roll_back" in dagbag.dags["model_deployment_model_0"].task_ids


def test_a_config_error_dag_id_stays_within_airflows_limit_and_names_are_bounded(configs):
    (configs / f"{'x' * 245}.yaml").write_text("model_name: [unclosed\n")
    dags = build_dags(TRAINING, configs)
    [error_id] = [d for d in dags if d.startswith("ml_training_xxx")]
    assert len(error_id) == 250 and CONFIG_ERROR_TAG in dags[error_id].tags
    write_model(configs, "m" * 201)  # its DAG ids would pass Airflow's limit: refused as a config error
    long_name = build_dags(DEPLOYMENT, configs)["model_deployment_" + "m" * 201]
    assert CONFIG_ERROR_TAG in long_name.tags and "field 'model_name'" in long_name.description


def test_every_task_pushes_its_result_as_one_xcom(tmp_path):
    """A dict-returning task pushes one XCom, not one more per key (each a Task Execution API call): in every DAG of
    our folder (each kind of the repo's models, the platform's own), and with ``partition_by``, where only
    ``combine_partitions``, whose keys training reads apart, pushes them."""
    from airflow.dag_processing.dagbag import DagBag

    folder = DagBag(dag_folder=str(config_dir().parents[1] / "airflow" / "dags"))
    assert not folder.import_errors
    write_model(tmp_path, "by_region", data={**yaml.safe_load(FRAUD.read_text())["data"], "partition_by": "region"})
    dags = [*folder.dags.values(), *build_all_training_dags(tmp_path).values()]
    split = {(dag.dag_id, t.task_id) for dag in dags for t in dag.tasks if getattr(t, "multiple_outputs", False)}
    assert split == {("ml_training_by_region", "combine_partitions")}
    assert {d.dag_id.split("_")[0] for d in dags} >= {"ml", "feature", "platform", "model"}


def test_the_supervisor_names_a_models_dags_as_the_kinds_do_without_importing_airflow():
    """It pauses and unpauses them by these ids; importing Airflow would cost it 2 s and switch its log format."""
    import subprocess
    import sys

    from ml_pipeline_airflow.dag_ids import model_dag_ids

    assert model_dag_ids("fraud_detection") == [kind.dag_id("fraud_detection") for kind in KINDS]
    code = ("import sys; import ml_platform.supervisor, ml_platform.model_switches as m; m.model_dag_ids('x'); "
            "print(sorted(name for name in sys.modules if name.split('.')[0] == 'airflow'))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
