"""The OpenLineage provider, given the platform's emission policy, keeps every ML DAG's task events and drops the
platform's own DAGs' (drills, the scale probe): a rule it cannot read it would silently ignore ("emit with
defaults"), so the decision is checked through the provider's own resolver."""

from __future__ import annotations

import json

import pytest

from ml_platform.lineage_transport import EMISSION_POLICY


@pytest.fixture
def resolve(monkeypatch):
    from airflow.providers.openlineage import conf
    from airflow.providers.openlineage.utils.emission_policy import resolve_task_emission_policy
    from airflow.providers.standard.operators.empty import EmptyOperator

    forget = getattr(conf.emission_policy, "cache_clear", lambda: None)  # cached outside Airflow's own tests
    monkeypatch.setenv("AIRFLOW__OPENLINEAGE__EMISSION_POLICY", json.dumps(EMISSION_POLICY))
    forget()
    yield lambda dag_id: resolve_task_emission_policy(EmptyOperator(task_id="t"), dag_id, "t")
    forget()


@pytest.mark.parametrize("dag_id", ["platform_scale_probe", "platform_failure_drill", "platform_stuck_drill",
                                    "platform_asset_drill"])
def test_the_platforms_own_dags_emit_no_lineage(resolve, dag_id):
    assert resolve(dag_id).emit is False


@pytest.mark.parametrize("dag_id", ["ml_training_fraud_detection", "feature_engineering_fraud_detection",
                                    "model_deployment_fraud_detection", "data_validation_fraud_detection"])
def test_every_ml_dag_emits_its_task_events_without_the_providers_extractors(resolve, dag_id):
    controls = resolve(dag_id)
    assert controls.emit is True and controls.extract_operator_metadata is False
