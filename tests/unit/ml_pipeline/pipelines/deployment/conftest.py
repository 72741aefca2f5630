"""A run context on a temporary lake and a kept holdout sample, for the deployment steps' tests."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import polars as pl
import pytest

from ml_pipeline.data.lake import to_uri
from ml_pipeline.deployment.history import DeploymentHistory
from ml_pipeline.pipelines.deployment import DeploymentTarget, ModelRegistry
from ml_pipeline.pipelines.deployment.holdout import keep_sample
from tests.unit.ml_pipeline.pipelines.test_context import make_context

VERSION = "7"


def offline_score(row: dict) -> float:
    """What the challenger scores a row offline (and a faithful server answers)."""
    return row["amount"] / (row["amount"] + 100.0)


def with_deployment(ctx, **changes):
    """``ctx`` with its config's ``deployment`` section updated (``canary`` and ``watch`` take dicts of changes)."""
    deployment = ctx.config.deployment
    for section in ("canary", "watch"):
        if section in changes:
            changes[section] = getattr(deployment, section).model_copy(update=changes[section])
    return replace(ctx, config=ctx.config.model_copy(update={"deployment": deployment.model_copy(update=changes)}))


@pytest.fixture
def ctx(tmp_path):
    """The fraud config on an empty temporary lake, with a small canary that gives up quickly."""
    lake = to_uri(tmp_path)
    return with_deployment(make_context(lake_uri=lake, uri_map={"s3://ml-data": lake}),
                           canary={"requests": 4, "rows_per_request": 5, "startup_timeout_seconds": 2})


@pytest.fixture
def evaluation(ctx):
    """What ``evaluate_challenger`` hands on: challenger v7 over champion v6, with 12 sample rows kept."""
    holdout = pl.DataFrame({"amount": [10.0 * i for i in range(1, 13)], "merchant_category": ["grocery"] * 12,
                            "transaction_count_1h": list(range(12)), "transaction_avg_24h": [50.0] * 12,
                            "category_avg_amount_24h": [40.0] * 12, "is_fraud": [0, 1] * 6})
    scores = np.array([offline_score(row) for row in holdout.to_dicts()])
    return {"model": ctx.config.model_name,
            "challenger": {"version": VERSION, "run_id": "r7", "auc": 0.9, "metrics": {}},
            "champion": {"version": "6", "run_id": "r6", "auc": 0.8},
            "holdout": {"days": ["2026-11-20"], "rows": holdout.height},
            "decision": {"promote": True, "reason": "beats champion auc 0.8000"},
            "sample_uri": keep_sample(ctx, holdout, scores, 12)}


class FakeRegistry:
    """The aliases and tags of one model, in memory, behind ``ModelRegistry``'s methods the steps call."""

    def __init__(self, name: str, champion: str | None = None, previous: str | None = None) -> None:
        self.name = name
        self.aliases = {k: v for k, v in {"champion": champion, "previous_champion": previous}.items() if v}
        self.tags: dict[str, dict[str, str]] = {}

    def _version(self, alias: str):
        return SimpleNamespace(version=self.aliases[alias]) if alias in self.aliases else None

    def champion(self):
        return self._version("champion")

    def previous_champion(self):
        return self._version("previous_champion")

    def version(self, version: str):
        return SimpleNamespace(version=version) if int(version) < 100 else None

    def move_champion(self, version: str) -> None:
        if self.aliases.get("champion") not in (None, version):
            self.aliases["previous_champion"] = self.aliases["champion"]
        self.aliases["champion"] = version

    def remove_champion(self) -> None:
        del self.aliases["champion"]

    def set_previous_champion(self, version: str | None) -> None:
        if version:
            self.aliases["previous_champion"] = version
        else:
            self.aliases.pop("previous_champion", None)

    def tag(self, version: str, tags: dict[str, str]) -> None:
        self.tags.setdefault(version, {}).update(tags)


@pytest.fixture
def registry(ctx, monkeypatch):
    """Champion v6 (previous v5) in a fake registry, which every step of this run gets from ``for_run``."""
    fake = FakeRegistry(ctx.config.model_name, champion="6", previous="5")
    monkeypatch.setattr(ModelRegistry, "for_run", classmethod(lambda cls, run: fake))
    return fake


@pytest.fixture
def history(tmp_path):
    """A promotion history in a SQLite file."""
    store = DeploymentHistory(f"sqlite:///{tmp_path / 'history.db'}")
    store.create_schema()
    return store


def target(history: DeploymentHistory, url: str | None) -> DeploymentTarget:
    """Production at ``url`` (None: registry-only), history in ``history``."""
    return DeploymentTarget(url, history)
