"""The pipeline operators follow the provider contract: keyword-only arguments that ``__init__`` only assigns,
templated inputs, and an ``execute`` that delegates to the core steps through ``run_step``."""

import ast
import inspect
import textwrap
from types import SimpleNamespace

import pytest
from airflow.sdk import DAG, Asset

from ml_pipeline.pipelines import training
from ml_pipeline_airflow import runtime
from ml_pipeline_airflow.operators.data_validation import DataValidationOperator
from ml_pipeline_airflow.operators.model_registry import ModelRegistryOperator
from ml_pipeline_airflow.operators.model_training import ModelTrainingOperator

OPERATORS = [DataValidationOperator, ModelTrainingOperator, ModelRegistryOperator]
LOADED = {"snapshot_uri": "file:///lake/runs/x/snapshot.parquet", "data_hash": "h" * 64}
FEATURES = {"features_uri": "file:///lake/runs/x/features.parquet", "rows": 10}
TRAINED = {"mlflow_run_id": "r1", "model_uri": "models:/m-1", "train_rows": 8, "holdout_rows": 2}
EVALUATION = {"metrics": {"auc": 0.9}, "champion": None, "decision": {"promote": True, "reason": "no champion"}}
REGISTERED = {"model_name": "fraud_detection", "version": "3", "aliases": ["challenger"],
              "model_uri": "models:/fraud_detection/3"}


def own_arguments(operator: type) -> list[inspect.Parameter]:
    parameters = list(inspect.signature(operator.__init__).parameters.values())[1:]
    return [p for p in parameters if p.kind is not inspect.Parameter.VAR_KEYWORD]


@pytest.mark.parametrize("operator", OPERATORS)
def test_arguments_are_keyword_only(operator):
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in own_arguments(operator))
    with pytest.raises(TypeError):
        operator("validate_data", "fraud_detection.yaml")


@pytest.mark.parametrize("operator", OPERATORS)
def test_init_only_assigns_its_arguments(operator):
    init = ast.parse(textwrap.dedent(inspect.getsource(operator.__init__))).body[0]
    first, *assignments = init.body
    assert ast.unparse(first) == "super().__init__(**kwargs)"
    assert [ast.unparse(a) for a in assignments] == [f"self.{p.name} = {p.name}" for p in own_arguments(operator)]


@pytest.mark.parametrize(("operator", "fields"), [
    (ModelTrainingOperator, {"config_path", "loaded", "features"}),
    (ModelRegistryOperator, {"config_path", "loaded", "trained", "evaluation"}),
])
def test_the_config_and_every_xcom_input_are_templated(operator, fields):
    assert set(operator.template_fields) == fields


def test_xcom_args_wire_the_tasks_in_order():
    with DAG("wiring", schedule=None) as dag:
        train = ModelTrainingOperator(task_id="train_model", config_path="c.yaml", loaded=LOADED, features=FEATURES)
        ModelRegistryOperator(task_id="register_model", config_path="c.yaml", loaded=LOADED, trained=train.output,
                              evaluation=train.output["evaluation"])
    assert dag.get_task("register_model").upstream_task_ids == {"train_model"}


def test_jinja_xcom_pulls_render_as_the_references_they_pull():
    with DAG("jinja", schedule=None, render_template_as_native_obj=True) as dag:
        register = ModelRegistryOperator(
            task_id="register_model", config_path="{{ params.config }}", loaded=LOADED,
            trained="{{ ti.xcom_pull(task_ids='train_model') }}",
            evaluation="{{ ti.xcom_pull(task_ids='train_model', key='evaluation') }}",
            params={"config": "fraud_detection.yaml"})
    pulled = {"return_value": TRAINED, "evaluation": EVALUATION}
    ti = SimpleNamespace(xcom_pull=lambda task_ids, key="return_value": pulled[key])
    register.render_template_fields({"ti": ti, "params": register.params}, jinja_env=dag.get_template_env())
    assert (register.config_path, register.trained, register.evaluation) == (
        "fraud_detection.yaml", TRAINED, EVALUATION)


@pytest.fixture
def steps(monkeypatch):
    """``run_step`` recording which core step ran with which results, answering like the steps would."""
    calls = []
    answers = {training.trained_before: None, training.train_model: TRAINED, training.evaluate_model: EVALUATION,
               training.register_model: REGISTERED}

    def fake_run_step(step, config_path, *results):
        calls.append((step, config_path, results))
        return answers[step]

    monkeypatch.setattr(runtime, "run_step", fake_run_step)
    return calls


def task_context(outlets=()) -> dict:
    pushed = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.__setitem__(key, value), pushed=pushed)
    return {"ti": ti, "outlets": list(outlets), "outlet_events": {o: SimpleNamespace(extra=None) for o in outlets}}


def test_training_trains_then_evaluates_and_returns_references(steps):
    context = task_context()
    op = ModelTrainingOperator(task_id="train_model", config_path="c.yaml", loaded=LOADED, features=FEATURES)
    assert op.execute(context) == TRAINED
    assert steps == [(training.trained_before, "c.yaml", (LOADED, FEATURES)),
                     (training.train_model, "c.yaml", (LOADED, FEATURES)),
                     (training.evaluate_model, "c.yaml", (FEATURES, TRAINED))]
    assert context["ti"].pushed == {"evaluation": EVALUATION}


@pytest.mark.parametrize(("trigger", "answered"), [("features", False), ("schedule", False), ("drift", True),
                                                   ("decay+features", True)])
def test_training_is_skipped_when_a_version_already_learned_the_runs_inputs(steps, monkeypatch, trigger, answered):
    """Skipped, neither trained nor evaluated; a retraining request (drift, decay) is answered on the channels."""
    import airflow.sdk
    from airflow.sdk.exceptions import AirflowSkipException

    from ml_pipeline import config
    from ml_pipeline.pipelines.training.same_inputs import LearnedBefore
    from ml_pipeline_airflow.notifications import announcements

    learned = LearnedBefore("fraud_detection", "3", trigger, "fraud_detection v3 already learned exactly these inputs")
    real, sent = runtime.run_step, []
    monkeypatch.setattr(runtime, "run_step", lambda step, *args: learned if step is training.trained_before
                        else real(step, *args))
    monkeypatch.setattr(airflow.sdk, "get_current_context", lambda: {"ti": SimpleNamespace(dag_id="d", run_id="r")})
    monkeypatch.setattr(config, "load_model_config", lambda path: SimpleNamespace(model_name="fraud_detection",
                                                                           alerts=path))
    monkeypatch.setattr(announcements, "announce", lambda note, alerts, context: sent.append(note))
    monkeypatch.setattr(announcements, "version_url", lambda model, version: f"http://mlflow/{model}/{version}")
    monkeypatch.setattr(announcements, "run_url", lambda dag_id, run_id: f"http://af/dags/{dag_id}/runs/{run_id}")
    op = ModelTrainingOperator(task_id="train_model", config_path="c.yaml", loaded=LOADED, features=FEATURES)
    with pytest.raises(AirflowSkipException, match="v3 already learned exactly these inputs"):
        op.execute(task_context())
    assert steps == []  # neither trained nor evaluated
    assert [(n["version"], n["lines"]) for n in sent] == ([("3", [learned.reason])] if answered else [])
    if answered:
        assert sent[0]["headline"].startswith(f"retraining requested by {trigger}: nothing new to train")
        assert [link["url"] for link in sent[0]["links"]] == ["http://af/dags/d/runs/r", "http://mlflow/fraud_detection/3"]


def test_training_without_evaluation_only_trains(steps):
    context = task_context()
    op = ModelTrainingOperator(task_id="train_model", config_path="c.yaml", loaded=LOADED, features=FEATURES,
                               evaluate=False)
    assert op.execute(context) == TRAINED
    assert [step for step, _, _ in steps] == [training.trained_before, training.train_model]
    assert context["ti"].pushed == {}


def test_registry_registers_and_announces_the_version_to_its_outlets(steps):
    challenger = Asset(name="fraud_detection_challenger", uri="mlflow://models/fraud_detection/challenger")
    context = task_context([challenger])
    op = ModelRegistryOperator(task_id="register_model", config_path="c.yaml", loaded=LOADED, trained=TRAINED,
                               evaluation=EVALUATION, outlets=[challenger])
    assert op.execute(context) == REGISTERED
    assert steps == [(training.register_model, "c.yaml", (LOADED, TRAINED, EVALUATION))]
    assert context["outlet_events"][challenger].extra == {"model": "fraud_detection", "version": "3"}
