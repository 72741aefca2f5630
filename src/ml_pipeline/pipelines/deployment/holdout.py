"""The rows a deployment judges on: the newest landed days' features, and the sample sent to serving."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from ml_pipeline.data.lake import list_parquet_files, read_parquet, write_parquet
from ml_pipeline.data.loader import day_folders, load_partition, partition_uri
from ml_pipeline.features.registry import build_features
from ml_pipeline.pipelines.context import RunContext

if TYPE_CHECKING:
    import numpy as np

    from ml_pipeline.pipelines.deployment.results import Evaluation

SCORES = "__offline_score"
SMOKE_ROWS = 20


def landed_days(ctx: RunContext) -> list[dt.date]:
    """Days of the model's dataset that have data, oldest first."""
    return [day for day in day_folders(ctx.dataset_uri) if list_parquet_files(partition_uri(ctx.dataset_uri, day))]


def labelled_features(ctx: RunContext, days: list[dt.date]) -> pl.DataFrame:
    """The model's features for the rows of ``days``, windows computed with the day before as history."""
    data = ctx.config.data
    first = min(days) - dt.timedelta(days=1)
    frames = [load_partition(partition_uri(ctx.dataset_uri, day))
              for day in [first, *days] if list_parquet_files(partition_uri(ctx.dataset_uri, day))]
    features = build_features(pl.concat(frames, how="diagonal_relaxed"), data.features, data.feature_functions,
                              data.timestamp_column)
    return features.filter(pl.col(data.timestamp_column).dt.date().is_in(days))


def keep_sample(ctx: RunContext, holdout: pl.DataFrame, scores: np.ndarray, rows: int) -> str:
    """Write the first ``rows`` holdout rows with the challenger's offline ``scores``; return the sample's URI.

    The canary and the verification compare served scores with these.
    """
    sample = holdout.with_columns(pl.Series(SCORES, scores)).head(rows)
    return write_parquet(sample, ctx.artifact_uri("deployment/sample.parquet"))


@dataclass(frozen=True)
class SmokeSample:
    """Rows to send to a model server, as JSON, and the offline scores of ``version`` for them (when known)."""

    rows: list[dict[str, Any]]
    scores: list[float] | None
    version: str | None

    def expected(self, version: str | None) -> list[float] | None:
        """The offline scores to compare ``version``'s served ones with: None unless they are that version's."""
        return self.scores if self.scores is not None and version == self.version else None


def smoke_sample(ctx: RunContext, evaluation: Evaluation | None) -> SmokeSample:
    """The rows to send to a model server, with the offline scores to compare when there are some.

    The evaluation's sample with the challenger's offline scores; without an evaluation (a manual rollback has no
    holdout), the first rows of the newest landed day, with no scores.
    """
    if evaluation is not None and evaluation.get("sample_uri"):
        sample = read_parquet(evaluation["sample_uri"])
        scores, version = sample[SCORES].to_list(), evaluation["challenger"]["version"]
    else:
        sample, scores, version = labelled_features(ctx, landed_days(ctx)[-1:]).head(SMOKE_ROWS), None, None
    rows = sample.select(ctx.config.data.features).to_dicts()
    json_rows = [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows]
    return SmokeSample(json_rows, scores, version)
