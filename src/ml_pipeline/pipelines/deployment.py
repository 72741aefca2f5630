"""The deployment pipeline's steps: judge a challenger, canary it, promote it, verify, roll back.

Every step takes the ``RunContext``, the ``DeploymentTarget`` (production endpoint, history database) and the
small dicts earlier steps returned. The champion alias moves only here, always with a history record and an
MLflow tag, and production serving is told to reload and then checked over HTTP.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ml_pipeline.data.lake import list_parquet_files, read_parquet, write_parquet
from ml_pipeline.data.loader import load_partition, partition_day, partition_uri
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.deployment import history as hist
from ml_pipeline.features.registry import build_features
from ml_pipeline.pipelines.context import RunContext

log = logging.getLogger(__name__)
SCORES = "__offline_score"


class DeploymentError(RuntimeError):
    """A deployment step found the new version unfit (canary, verification, live metric): roll back / refuse."""


@dataclass(frozen=True)
class DeploymentTarget:
    """Where a model is served in production (None: registry-only) and where its history is kept."""

    endpoint_url: str | None
    history_url: str

    def history(self) -> hist.DeploymentHistory:
        """The durable promotion log."""
        return hist.DeploymentHistory(self.history_url)


def landed_days(ctx: RunContext) -> list[dt.date]:
    """Days of the model's dataset that have data, oldest first."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(ctx.dataset_uri)
    days = {partition_day(path) for path in (fs.ls(root, detail=False) if fs.exists(root) else [])} - {None}
    return sorted(day for day in days if list_parquet_files(partition_uri(ctx.dataset_uri, day)))


def labelled_features(ctx: RunContext, days: list[dt.date]) -> pl.DataFrame:
    """The model's features for the rows of ``days``, windows computed with the day before as history."""
    data = ctx.config.data
    first = min(days) - dt.timedelta(days=1)
    frames = [load_partition(partition_uri(ctx.dataset_uri, day))
              for day in [first, *days] if list_parquet_files(partition_uri(ctx.dataset_uri, day))]
    features = build_features(pl.concat(frames, how="diagonal_relaxed"), data.features, data.feature_functions,
                              data.timestamp_column)
    return features.filter(pl.col(data.timestamp_column).dt.date().is_in(days))


def evaluate_challenger(ctx: RunContext, version: str | None) -> dict:
    """Score the challenger and the champion on the same fresh holdout (newest landed days) and apply the gates."""
    from mlflow import MlflowClient

    from ml_pipeline.evaluation.metrics import classification_metrics, promotion_decision
    from ml_pipeline.registry import mlflow_registry as registry

    cfg, name = ctx.config, ctx.config.model_name
    client = MlflowClient(ctx.tracking_uri)
    challenger = (client.get_model_version(name, version) if version
                  else registry.alias_version(client, name, registry.CHALLENGER))
    if challenger is None:
        raise DataValidationError(f"model {name} has no '{registry.CHALLENGER}' version to deploy: train one first")
    champion = registry.alias_version(client, name, registry.CHAMPION)
    days = landed_days(ctx)[-cfg.deployment.holdout_days:]
    if not days:
        raise DataValidationError(f"{ctx.dataset_uri}: no landed data to judge v{challenger.version} on")
    holdout = labelled_features(ctx, days)
    y = holdout[cfg.data.target_column].to_numpy()
    scores = _scores(ctx, challenger.version, holdout)
    metrics = classification_metrics(y, scores).as_dict()
    champion_info = None
    if champion is not None and champion.version != challenger.version:
        try:
            champion_auc = classification_metrics(y, _scores(ctx, champion.version, holdout)).auc
        except (KeyError, ValueError) as exc:  # trained on other features: its recorded AUC is all there is
            log.warning("champion v%s cannot score this holdout (%s): using its recorded AUC", champion.version, exc)
            champion_auc = float(champion.tags.get("holdout_auc", 0.0))
        champion_info = {"version": champion.version, "run_id": champion.run_id, "auc": champion_auc}
    decision = promotion_decision(metrics["auc"], champion_info and champion_info["auc"],
                                  cfg.deployment.min_auc_threshold, cfg.deployment.min_auc_improvement)
    if champion is not None and champion.version == challenger.version:
        decision = {**decision, "promote": False, "reason": f"v{challenger.version} is already the champion"}
    client.log_metric(challenger.run_id, "deployment_holdout_auc", metrics["auc"])
    sample = holdout.with_columns(pl.Series(SCORES, scores)).head(
        cfg.deployment.canary.requests * cfg.deployment.canary.rows_per_request)
    log.info("gates for %s v%s on %s (%d rows): %s", name, challenger.version, [d.isoformat() for d in days],
             holdout.height, decision["reason"])
    return {"model": name, "challenger": {"version": challenger.version, "run_id": challenger.run_id,
                                          "auc": metrics["auc"], "metrics": metrics},
            "champion": champion_info, "holdout": {"days": [d.isoformat() for d in days], "rows": holdout.height},
            "decision": decision, "sample_uri": write_parquet(sample, ctx.artifact_uri("deployment/sample.parquet"))}


def _scores(ctx: RunContext, version: str, frame: pl.DataFrame):
    from ml_pipeline.registry import mlflow_registry as registry
    from ml_pipeline.training.trainer import to_model_input

    model = registry.load_model(ctx.tracking_uri, f"models:/{ctx.config.model_name}/{version}")
    return model.predict_proba(to_model_input(frame, ctx.config.data.features))[:, 1]


def record_rejection(ctx: RunContext, target: DeploymentTarget, evaluation: dict) -> dict:
    """Keep the refused challenger in the history with the gate's numbers."""
    event = target.history().record(hist.DeploymentEvent(
        ctx.config.model_name, hist.REJECTED, (evaluation["champion"] or {}).get("version"),
        evaluation["challenger"]["version"], evaluation["decision"]["reason"], ctx.dag_id, ctx.run_id,
        {"decision": evaluation["decision"], "holdout": evaluation["holdout"]}))
    return event.to_dict()


def _sample(ctx: RunContext, evaluation: dict) -> tuple[list[dict], list[float] | None]:
    """The rows (and the challenger's offline scores) sent to serving; a manual rollback, which has no holdout,
    smoke-tests on the newest landed day."""
    if evaluation.get("sample_uri"):
        sample = read_parquet(evaluation["sample_uri"])
        expected = sample[SCORES].to_list()
    else:
        sample, expected = labelled_features(ctx, landed_days(ctx)[-1:]).head(20), None
    rows = sample.select(ctx.config.data.features).to_dicts()
    return [{k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in r.items()} for r in rows], expected


def run_canary(ctx: RunContext, evaluation: dict) -> dict:
    """Serve the challenger in a staging instance, send it real holdout rows, and check error rate, latency p95
    and that it scores as offline; ``DeploymentError`` with the numbers when it does not."""
    from ml_pipeline.deployment.client import ServingClient, ServingError, free_port, running_server

    canary, version = ctx.config.deployment.canary, evaluation["challenger"]["version"]
    if not canary.enabled:
        return {"skipped": "deployment.canary.enabled is false"}
    rows, expected = _sample(ctx, evaluation)
    port = free_port()
    log_path = Path(tempfile.gettempdir()) / "ml-serving-canary" / f"{ctx.config.model_name}-v{version}-{port}.log"
    latencies, errors, worst = [], [], 0.0
    with running_server(ctx.config.model_name, port, ctx.tracking_uri, log_path, version=version) as process:
        client = ServingClient(f"http://127.0.0.1:{port}")
        try:
            client.wait_healthy(canary.startup_timeout_seconds, process, version)
        except ServingError as exc:
            raise DeploymentError(f"canary: staging instance of v{version} never became healthy: {exc}; "
                                  f"log {log_path}: {_tail(log_path)}") from exc
        size = canary.rows_per_request
        for i in range(canary.requests):
            start = (i * size) % len(rows)
            batch, want = rows[start:start + size], expected[start:start + size]
            began = time.perf_counter()
            try:
                answer = client.predict(batch)
            except ServingError as exc:
                errors.append(str(exc)[:300])
                continue
            finally:
                latencies.append(time.perf_counter() - began)
            worst = max([worst, *(abs(a - b) for a, b in zip(answer["scores"], want, strict=True))])
    result = {"version": version, "requests": canary.requests, "errors": len(errors),
              "error_rate": len(errors) / canary.requests, "p50_ms": statistics.median(latencies) * 1000,
              "p95_ms": _p95(latencies) * 1000, "max_score_diff": worst, "rows_per_request": size}
    problems = []
    if result["error_rate"] > canary.max_error_rate:
        problems.append(f"error rate {result['error_rate']:.2%} > {canary.max_error_rate:.2%} ({errors[:3]})")
    if result["p95_ms"] > canary.max_p95_ms:
        problems.append(f"latency p95 {result['p95_ms']:.1f} ms > {canary.max_p95_ms:.1f} ms")
    if worst > canary.score_tolerance:
        problems.append(f"served scores differ from offline by up to {worst:.2e} > {canary.score_tolerance:.0e}")
    log.info("canary of v%s: %s", version, result)
    if problems:
        raise DeploymentError(f"canary of {ctx.config.model_name} v{version} failed: {'; '.join(problems)}")
    return result


def record_canary_failure(ctx: RunContext, target: DeploymentTarget, evaluation: dict, reason: str) -> None:
    """Keep a challenger refused by its canary in the history."""
    target.history().record(hist.DeploymentEvent(
        ctx.config.model_name, hist.CANARY_FAILED, (evaluation["champion"] or {}).get("version"),
        evaluation["challenger"]["version"], reason, ctx.dag_id, ctx.run_id))


def promote(ctx: RunContext, target: DeploymentTarget, evaluation: dict, canary: dict) -> dict:
    """Move ``champion`` to the challenger (the old one keeps ``previous_champion``), record it, reload serving.

    Retrying after a failure is safe: the alias move and the history record are idempotent.
    """
    version = evaluation["challenger"]["version"]
    before = (evaluation["champion"] or {}).get("version")
    reason = f"{evaluation['decision']['reason']} on {', '.join(evaluation['holdout']['days'])}"
    _move_champion(ctx, target, version, before, hist.PROMOTED, reason,
                   {"decision": evaluation["decision"], "holdout": evaluation["holdout"], "canary": canary})
    return {"version": version, "previous": before}


def _move_champion(ctx: RunContext, target: DeploymentTarget, to: str | None, before: str | None, action: str,
                   reason: str, details: dict | None = None) -> None:
    from mlflow import MlflowClient

    from ml_pipeline.deployment.client import ServingClient, ServingError
    from ml_pipeline.registry import mlflow_registry as registry

    client, name = MlflowClient(ctx.tracking_uri), ctx.config.model_name
    current = registry.alias_version(client, name, registry.CHAMPION)
    if to is None:  # the first champion failed: there is nothing to go back to
        if current is not None:
            client.delete_registered_model_alias(name, registry.CHAMPION)
    elif current is None or current.version != to:
        registry.promote(client, name, to)
        if action == hist.ROLLED_BACK:  # previous_champion must not name the version just rolled back
            _restore_previous(client, name, target.history().champion_before(name, to), avoid=before)
    tagged = to if action == hist.PROMOTED else before  # a rollback is a fact about the version it left
    if tagged:
        now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        for key, value in {f"deployment.{action}_at": now, "deployment.last_action": action,
                           "deployment.last_run": f"{ctx.dag_id}/{ctx.run_id}",
                           "deployment.last_reason": reason[:4000]}.items():
            client.set_model_version_tag(name, tagged, key, value)
    target.history().record(hist.DeploymentEvent(name, action, before, to, reason, ctx.dag_id, ctx.run_id, details))
    if target.endpoint_url:
        try:
            ServingClient(target.endpoint_url).reload()
        except ServingError as exc:
            raise DeploymentError(f"production endpoint {target.endpoint_url} did not take v{to}: {exc}") from exc


def _restore_previous(client, name: str, previous: str | None, avoid: str | None) -> None:
    from ml_pipeline.registry import mlflow_registry as registry

    if previous and previous != avoid:
        client.set_registered_model_alias(name, registry.PREVIOUS_CHAMPION, previous)
    else:
        client.delete_registered_model_alias(name, registry.PREVIOUS_CHAMPION)


def verify(ctx: RunContext, target: DeploymentTarget, evaluation: dict, version: str | None) -> dict:
    """Production serves ``version`` (``/version``), is healthy, and scores smoke rows as offline."""
    from mlflow import MlflowClient

    from ml_pipeline.deployment.client import ServingClient, ServingError
    from ml_pipeline.registry import mlflow_registry as registry

    champion = registry.alias_version(MlflowClient(ctx.tracking_uri), ctx.config.model_name, registry.CHAMPION)
    if (champion.version if champion else None) != version:
        raise DeploymentError(f"registry: champion is v{champion.version if champion else None}, not v{version}")
    if not target.endpoint_url:
        return {"version": version, "endpoint": None}
    client = ServingClient(target.endpoint_url)
    try:
        if version is None:  # nothing should be served
            return {"version": None, "endpoint": target.endpoint_url}
        served = client.version()["version"]
        if served != version:
            raise DeploymentError(f"production {target.endpoint_url} serves v{served}, not v{version}")
        rows, expected = _sample(ctx, evaluation)
        answer = client.predict(rows[:20])
        health = client.health()
    except ServingError as exc:
        raise DeploymentError(f"production {target.endpoint_url} failed verification of v{version}: {exc}") from exc
    if answer["version"] != version or health.get("version") != version:
        raise DeploymentError(f"production answered with v{answer['version']} (health: {health}), not v{version}")
    if expected and version == evaluation["challenger"]["version"]:
        worst = max(abs(a - b) for a, b in zip(answer["scores"], expected[:20], strict=True))
        if worst > ctx.config.deployment.canary.score_tolerance:
            raise DeploymentError(f"production v{version} scores differ from offline by {worst:.2e}")
    return {"version": version, "endpoint": target.endpoint_url, "smoke_rows": len(rows[:20])}


def roll_back(ctx: RunContext, target: DeploymentTarget, evaluation: dict, reason: str) -> dict:
    """Put the champion of before this deployment back (aliases and serving), verify it, record why."""
    to = (evaluation["champion"] or {}).get("version")
    bad = evaluation["challenger"]["version"]
    try:
        _move_champion(ctx, target, to, bad, hist.ROLLED_BACK, reason)
        verified = verify(ctx, target, evaluation, to)
    except Exception as exc:
        target.history().record(hist.DeploymentEvent(ctx.config.model_name, hist.ROLLBACK_FAILED, bad, to,
                                                     f"{reason}; rollback failed: {exc}", ctx.dag_id, ctx.run_id))
        raise
    return {"from": bad, "to": to, "reason": reason, "verified": verified}


def rollback_to(ctx: RunContext, target: DeploymentTarget, to_version: str | None, reason: str) -> dict:
    """Manual rollback: champion back to ``to_version`` (default: ``previous_champion``), through the same
    verified path as an automatic one."""
    from mlflow import MlflowClient

    from ml_pipeline.registry import mlflow_registry as registry

    client, name = MlflowClient(ctx.tracking_uri), ctx.config.model_name
    current = registry.alias_version(client, name, registry.CHAMPION)
    if to_version is None:
        previous = registry.alias_version(client, name, registry.PREVIOUS_CHAMPION)
        if previous is None:
            raise DataValidationError(f"model {name} has no '{registry.PREVIOUS_CHAMPION}': name a version (--to)")
        to_version = previous.version
    client.get_model_version(name, to_version)  # fails naming the version when it does not exist
    if current is not None and current.version == str(to_version):
        raise DataValidationError(f"v{to_version} of {name} is already the champion: nothing to roll back")
    evaluation = {"challenger": {"version": current.version if current else None},
                  "champion": {"version": str(to_version)}, "sample_uri": None}
    _move_champion(ctx, target, str(to_version), evaluation["challenger"]["version"], hist.ROLLED_BACK, reason)
    return {"from": evaluation["challenger"]["version"], "to": str(to_version), "reason": reason,
            "verified": verify(ctx, target, evaluation, str(to_version))}


def live_window(ctx: RunContext, evaluation: dict) -> list[str]:
    """The days after the holdout the new champion is watched on (labelled data that lands after promotion)."""
    last = dt.date.fromisoformat(evaluation["holdout"]["days"][-1])
    return [(last + dt.timedelta(days=i)).isoformat() for i in range(1, ctx.config.deployment.watch.window_days + 1)]


def live_performance(ctx: RunContext, evaluation: dict, days: list[str]) -> dict:
    """The champion's AUC on the watch window's data; ``DeploymentError`` when it is below the watch threshold."""
    from ml_pipeline.evaluation.metrics import classification_metrics

    version = evaluation["challenger"]["version"]
    frame = labelled_features(ctx, [dt.date.fromisoformat(d) for d in days])
    auc = classification_metrics(frame[ctx.config.data.target_column].to_numpy(), _scores(ctx, version, frame)).auc
    threshold = ctx.config.deployment.watch.min_auc or ctx.config.deployment.min_auc_threshold
    result = {"version": version, "days": days, "rows": frame.height, "auc": auc, "min_auc": threshold}
    log.info("live performance of v%s: %s", version, result)
    if auc < threshold:
        raise DeploymentError(f"v{version} underperforms live: auc {auc:.4f} < {threshold:.4f} on {', '.join(days)} "
                              f"({frame.height} rows)")
    return result


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]


def _tail(path: Path, chars: int = 1500) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"
