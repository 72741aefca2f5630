"""What the deployment steps hand each other (through XCom in Airflow): typed, JSON-able dicts.

``TypedDict`` rather than dataclasses: the values stay plain dicts, so the XCom a task writes, the UI shows and
``ApprovalOperator``'s template reads keep their shape.
"""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from ml_pipeline.evaluation.champion import ChampionScore


class ChallengerScore(TypedDict):
    """The challenger and its metrics on the holdout."""

    version: str
    run_id: str
    auc: float
    metrics: dict[str, float]


class Holdout(TypedDict):
    """The landed days both models were judged on."""

    days: list[str]
    rows: int


class Evaluation(TypedDict):
    """``evaluate_challenger``: both models on the same fresh holdout and the gates' decision.

    ``decision`` is ``promotion_decision``'s dict; ``sample_uri`` holds holdout rows with the challenger's offline
    scores, for the canary and the verification to compare served scores with.
    """

    model: str
    challenger: ChallengerScore
    champion: ChampionScore | None
    holdout: Holdout
    decision: dict[str, Any]
    sample_uri: str | None


class CanaryResult(TypedDict):
    """``run_canary``: the staging instance's figures (or only ``skipped``, when the canary is off)."""

    version: NotRequired[str]
    requests: NotRequired[int]
    errors: NotRequired[int]
    error_rate: NotRequired[float]
    p50_ms: NotRequired[float]
    p95_ms: NotRequired[float]
    max_score_diff: NotRequired[float]
    rows_per_request: NotRequired[int]
    skipped: NotRequired[str]


class PromotionResult(TypedDict):
    """``promote``: the new champion and the one it replaced."""

    version: str
    previous: str | None


class Verification(TypedDict):
    """``verify``: what production serves (``endpoint`` None: registry-only) and how many rows were smoke-tested."""

    version: str | None
    endpoint: str | None
    smoke_rows: NotRequired[int]


# "from" is a keyword: the functional form keeps the key the history, the CLI and the alerts read.
RollbackResult = TypedDict("RollbackResult", {"from": str | None, "to": str | None, "reason": str,
                                              "verified": Verification})


class LivePerformance(TypedDict):
    """``live_performance``: the champion's AUC on the watch window's data."""

    version: str
    days: list[str]
    rows: int
    auc: float
    min_auc: float
