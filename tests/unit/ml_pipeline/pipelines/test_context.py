import datetime as dt
from dataclasses import replace

from ml_pipeline.config import load_model_config
from ml_pipeline.pipelines.context import RunContext
from tests.unit.ml_pipeline.test_config import FRAUD


def make_context(**changes) -> RunContext:
    ctx = RunContext(load_model_config(FRAUD), FRAUD, dt.date(2026, 11, 20), "file:///lake", "http://mlflow",
                     "ml_training_fraud_detection", "manual__2026-11-20T00:00:00+00:00",
                     uri_map={"s3://ml-data": "file:///lake"})
    return replace(ctx, **changes)


def test_paths_are_per_run_under_the_lake():
    ctx = make_context()
    assert ctx.dataset_uri == "file:///lake/transactions"
    assert ctx.artifact_uri("x.parquet") == (
        "file:///lake/runs/ml_training_fraud_detection/manual__2026-11-20T00_00_00_00_00/x.parquet")


def with_source(ctx: RunContext, source: str) -> RunContext:
    data = ctx.config.data.model_copy(update={"source": source})
    return replace(ctx, config=ctx.config.model_copy(update={"data": data}))


def test_source_uri_goes_through_the_environment_uri_map():
    assert make_context().config.data.source == "s3://ml-data/transactions/"
    assert make_context().dataset_uri == "file:///lake/transactions"
    assert make_context(uri_map={}).dataset_uri == "s3://ml-data/transactions"
    assert with_source(make_context(), "gs://other/clicks").dataset_uri == "gs://other/clicks"


def test_relative_source_lives_under_the_lake():
    assert with_source(make_context(), "clicks/").dataset_uri == "file:///lake/clicks"


def test_run_key_is_stable_and_changes_with_data_or_run():
    ctx = make_context()
    assert ctx.run_key("h1") == make_context().run_key("h1")
    assert ctx.run_key("h1") != ctx.run_key("h2")
    assert ctx.run_key("h1") != make_context(run_id="other").run_key("h1")
