"""``ml-pipeline lineage``'s text: a version's chain left to right, then each stage indented; a partition's reach."""

from __future__ import annotations

import datetime as dt
from typing import Any

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.graph import TERMINAL_STATES, DatasetState
from ml_pipeline.lineage.queries import REACHED, STAGES, Deployment, PartitionReach, VersionLineage

LABELS = dict(STAGES) | dict(REACHED)


def describe_version(lineage: VersionLineage) -> str:
    """The version's chain on one line, its upstream stages and the runs, then deployments and checks."""
    up = lineage.upstream
    chain = [_count(len(up[kind]), kind) for kind in (naming.PARTITION, naming.SNAPSHOT, naming.FEATURES,
                                                      naming.MLFLOW_RUN) if up.get(kind)]
    chain.append(f"{lineage.model} v{lineage.version}")
    serving = [d for d in lineage.deployments if d.end is None]
    if lineage.deployments:
        chain.append(_count(len(lineage.deployments), "deployment")
                     + (f", serving on {', '.join(d.endpoint for d in serving)}" if serving else ", not served now"))
    if lineage.checks:
        chain.append(_count(len(lineage.checks), "monitoring check"))
    lines = [f"{lineage.model} v{lineage.version}  ({lineage.key})", "  " + " → ".join(chain), "", "upstream"]
    for kind, states in up.items():
        lines.append(f"  {LABELS.get(kind, kind)}")
        lines += [f"    {line_of(state)}" for state in states]
    lines.append("  runs")
    lines += [f"    {line_of_run(run)}" for run in lineage.runs]
    lines += ["", "downstream", "  deployments (endpoint, action, from → to)"]
    lines += [f"    {line_of_deployment(d)}" for d in lineage.deployments] or ["    never deployed"]
    lines.append("  monitoring checks")
    lines += [f"    {_when(c.run.get('started'))}  {c.report.key}{_props(c.report.properties)}"
              for c in lineage.checks] or ["    none recorded"]
    return "\n".join(lines)


def describe_reach(reach: PartitionReach) -> str:
    """Which runs read the partition (with the version they read), what that reached, and what serves it now."""
    lines = [f"partition {p}" for p in reach.partitions] + ["", "read by"]
    lines += [f"  {_when(r.get('started'))}  {r['job']}  read {r['partition']}"
              + (f" (version {r['version']})" if r.get("version") else "") for r in reach.reads]
    lines += ["", "reached"]
    for kind, states in reach.reached.items():
        if kind == naming.ENDPOINT:  # an endpoint is one dataset for all versions: its deployments say more
            continue
        lines.append(f"  {LABELS.get(kind, kind)}")
        lines += [f"    {line_of(state)}" for state in states]
    if not reach.reached:
        lines.append("  nothing downstream yet")
    lines += ["", "deployments of the versions reached (endpoint, action, from → to)"]
    lines += [f"  {line_of_deployment(d)}" for d in reach.deployments] or ["  none"]
    if reach.serving:
        lines += ["", "still serving data from this partition: "
                  + ", ".join(f"{d.endpoint} ({d.model} v{d.version})" for d in reach.serving)
                  + "; retrain without it, or `ml-pipeline rollback MODEL --to VERSION` to a version it did not "
                  "reach"]
    return "\n".join(lines)


def line_of(state: DatasetState) -> str:
    """A dataset in one line: its key, then what we know (digest, rows, columns, properties)."""
    known = []
    if state.version:
        label = "fingerprint" if state.kind == naming.PARTITION else "version"
        known.append(f"{label} {state.version[:16]}")
    if state.rows is not None:
        known.append(f"{state.rows} rows")
    if state.fields:
        known.append(f"{len(state.fields)} columns")
    return state.key + (f"  ({', '.join(known)})" if known else "") + _props(state.properties)


def line_of_run(run: dict[str, Any]) -> str:
    """A job run: when, job, how it ended, commit, config and trigger, its DAG run."""
    known = [f"{name} {run[key]}" for key, name in (("git_commit", "commit"), ("config_hash", "config"),
                                                     ("trigger", "trigger"), ("run_id", "dag run")) if run.get(key)]
    if run.get("git_commit") and run.get("git_dirty") == "true":  # trained from files that differ from the commit
        known[0] += " with uncommitted changes"
    ended = f"  {run['state']}" if run.get("state") in TERMINAL_STATES else ""  # the store keeps no START/COMPLETE
    return f"{_when(run.get('started'))}  {run['job']}{ended}" + (f"  ({', '.join(known)})" if known else "")


def line_of_deployment(deployment: Deployment) -> str:
    """An endpoint serving a version from → to (``now`` while it still serves)."""
    until = _when(deployment.end) if deployment.end else "now (serving)"
    return (f"{deployment.endpoint}  v{deployment.version}  {deployment.action or '?'}  "
            f"{_when(deployment.start)} → {until}")


SINGULAR = {naming.PARTITION: ("partition", "partitions"), naming.SNAPSHOT: ("snapshot", "snapshots"),
            naming.FEATURES: ("feature table", "feature tables"), naming.MLFLOW_RUN: ("MLflow run", "MLflow runs")}


def _count(count: int, what: str) -> str:
    one, many = SINGULAR.get(what, (what, what + "s"))
    return f"{count} {one if count == 1 else many}"


def _props(properties: dict[str, Any]) -> str:
    shown = {k: v for k, v in properties.items() if k not in ("model", "version") and v not in (None, "", {})}
    return ("  " + " ".join(f"{k}={v}" for k, v in shown.items())) if shown else ""


def _when(value: dt.datetime | str | None) -> str:
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    if value is None:
        return "?"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
