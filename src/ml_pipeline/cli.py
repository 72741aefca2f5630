"""``ml-pipeline``: generate data and run pipelines without Airflow."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

DEFAULT_LAKE = os.environ.get("ML_LAKE_URI", ".platform/lake")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ml-pipeline`` console script."""
    parser = argparse.ArgumentParser(prog="ml-pipeline", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    gen = commands.add_parser("generate-data", help="write seeded daily transaction partitions")
    gen.add_argument("--lake", default=DEFAULT_LAKE, help="lake root URI or folder (env ML_LAKE_URI)")
    gen.add_argument("--dataset", default="transactions", choices=["transactions", "impressions"],
                     help="transactions (fraud detection) or impressions (recommendation)")
    gen.add_argument("--end-date", type=dt.date.fromisoformat, default=dt.datetime.now(dt.UTC).date())
    gen.add_argument("--days", type=int, default=7)
    gen.add_argument("--rows-per-day", type=int, default=20_000)
    gen.add_argument("--seed", type=int, default=42)
    run = commands.add_parser("run-training", help="run a training pipeline in this process (no Airflow)")
    run.add_argument("config", type=Path, help="model config YAML")
    run.add_argument("--date", type=dt.date.fromisoformat, default=dt.datetime.now(dt.UTC).date())
    run.add_argument("--lake", default=DEFAULT_LAKE)
    run.add_argument("--tracking-uri", default=os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000"))
    run.add_argument("--run-id", default=None)
    check = commands.add_parser("check-config", help="validate model configs without starting Airflow")
    check.add_argument("files", nargs="*", type=Path, help="config files (default: every *.yaml of the config dir)")
    new = commands.add_parser("new-model", help="write a commented starter config for a new model")
    new.add_argument("name", help="model name: lowercase letters, digits and _")
    val = commands.add_parser("validate", help="run a model's data validation rules on one partition")
    val.add_argument("--model", required=True, help="model name (its config in the config dir)")
    val.add_argument("--data", required=True, help="partition folder or parquet file (URI or path)")
    val.add_argument("--value", default=None, help="only the rows whose data.partition_by column has this value")
    val.add_argument("--lake", default=DEFAULT_LAKE, help="lake root holding the quarantine (env ML_LAKE_URI)")
    quarantine = commands.add_parser("quarantine", help="partitions kept out of training by failed validation")
    q_commands = quarantine.add_subparsers(dest="action", required=True)
    q_list = q_commands.add_parser("list", help="quarantined partitions (all entries with --all)")
    q_list.add_argument("--model", default=None)
    q_list.add_argument("--all", action="store_true", help="also released and resolved entries")
    q_list.add_argument("--lake", default=DEFAULT_LAKE)
    q_release = q_commands.add_parser("release", help="let training use a quarantined partition as it is")
    q_release.add_argument("partition", help="entry id (from `list`) or the partition's URI")
    q_release.add_argument("--model", required=True)
    q_release.add_argument("--reason", required=True, help="why this data is acceptable (kept in the record)")
    q_release.add_argument("--lake", default=DEFAULT_LAKE)
    dlq = commands.add_parser("dlq", help="the dead-letter queue: tasks that failed for good")
    d_commands = dlq.add_subparsers(dest="action", required=True)
    d_list = d_commands.add_parser("list", help="pending entries (every entry with --all)")
    d_list.add_argument("--all", action="store_true")
    d_list.add_argument("--model", default=None)
    for name, text in (("show", "one entry in full"), ("replay", "re-run the failed task through Airflow"),
                       ("discard", "close an entry without re-running it (it is kept)")):
        sub = d_commands.add_parser(name, help=text)
        sub.add_argument("id", type=int)
        if name == "discard":
            sub.add_argument("--reason", required=True)
    commands.add_parser("alerts", help="alerts the local Slack and email sinks received")
    deployments = commands.add_parser("deployments", help="a model's promotions, rejections and rollbacks")
    deployments.add_argument("model")
    rollback = commands.add_parser("rollback", help="put a previous version back in production (verified)")
    rollback.add_argument("model")
    rollback.add_argument("--to", default=None, help="version to serve (default: previous_champion)")
    rollback.add_argument("--reason", default="rolled back by hand", help="kept in the promotion history")
    serve = commands.add_parser("serve", help="serve a model's champion over HTTP (what `make up` runs)")
    serve.add_argument("model")
    serve.add_argument("--port", type=int, default=8500)
    serve.add_argument("--version", default=None, help="serve this version only (no alias)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    handlers = {"generate-data": _generate, "run-training": _run_training, "check-config": _check_config,
                "new-model": _new_model, "validate": _validate, "quarantine": _quarantine,
                "dlq": _dlq, "alerts": _alerts, "deployments": _deployments, "rollback": _rollback,
                "serve": _serve}
    return handlers[args.command](args)


def _generate(args: argparse.Namespace) -> int:
    from ml_pipeline.data.generator import generate_dataset
    from ml_pipeline.data.lake import join_uri, to_uri

    files = generate_dataset(join_uri(to_uri(args.lake), args.dataset), args.end_date, args.days,
                             args.rows_per_day, args.seed, kind=args.dataset)
    print(f"wrote {len(files)} file(s) for {args.days} day(s) ending {args.end_date} under "
          f"{join_uri(to_uri(args.lake), args.dataset)}")
    return 0


def _run_training(args: argparse.Namespace) -> int:
    from ml_pipeline.config import ConfigError, load_model_config
    from ml_pipeline.data.lake import parse_uri_map, to_uri
    from ml_pipeline.pipelines.context import RunContext
    from ml_pipeline.pipelines.training import run_in_process

    try:
        config = load_model_config(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    run_id = args.run_id or f"local__{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    lake = to_uri(args.lake)
    uri_map = parse_uri_map(os.environ.get("ML_DATA_URI_MAP", f"s3://ml-data={lake}"))
    ctx = RunContext(config, args.config.resolve(), args.date, lake, args.tracking_uri,
                     config.training_dag_id, run_id, uri_map=uri_map)
    print(json.dumps(run_in_process(ctx), indent=2, default=str))
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from ml_pipeline.config import config_dir, load_model_configs

    files = args.files or sorted(config_dir().glob("*.yaml"))
    if not files:
        print(f"no model configs found in {config_dir()}", file=sys.stderr)
        return 1
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.rules import RulesError

    configs, errors = load_model_configs(files)
    for path, config in list(configs.items()):
        try:
            rules_for_model(config, path)
        except RulesError as exc:
            errors[path] = str(exc)
            del configs[path]
    for path, config in configs.items():
        print(f"ok     {path}  ->  {config.training_dag_id}, {config.validation_dag_id}")
    for error in errors.values():
        print(f"error  {error}", file=sys.stderr)
    return 1 if errors else 0


def _new_model(args: argparse.Namespace) -> int:
    from ml_pipeline.config import ConfigError, config_dir, load_model_config, starter_config

    path = config_dir() / f"{args.name}.yaml"
    if path.exists():
        print(f"error: {path} exists already; pick another name or edit it", file=sys.stderr)
        return 1
    path.write_text(starter_config(args.name))
    try:
        load_model_config(path)
    except ConfigError as exc:
        path.unlink()
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}: edit data.source, data.target_column and data.features, then `ml-pipeline check-config`")
    return 0


def _model_config(name: str):
    """The config (and its path) of model ``name`` from the config dir."""
    from ml_pipeline.config import ConfigError, config_dir, load_model_configs

    configs, _ = load_model_configs(sorted(config_dir().glob("*.yaml")))
    for path, config in configs.items():
        if config.model_name == name:
            return config, path
    known = ", ".join(sorted(c.model_name for c in configs.values())) or "none"
    raise ConfigError(f"no model '{name}' in {config_dir()} (models: {known})")


def _validate(args: argparse.Namespace) -> int:
    from ml_pipeline.config import ConfigError
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.data.loader import MissingPartitionError
    from ml_pipeline.validation.model_rules import rules_for_model
    from ml_pipeline.validation.partition import validate_partition_uri
    from ml_pipeline.validation.rules import RulesError

    lake = to_uri(args.lake)
    data = _data_uri(args.data, lake)
    try:
        config, path = _model_config(args.model)
        if args.value is not None and not config.data.partition_by:
            raise ConfigError(f"--value: model {args.model} has no data.partition_by; validate the whole partition")
        report = validate_partition_uri(config, rules_for_model(config, path), data, lake, args.value)
    except (ConfigError, RulesError, MissingPartitionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    for check in report.errors + report.warnings:
        print(f"  {check.line()}")
    print(f"report: {report.report_uri} (and report.json beside it)")
    if report.blocking:
        print(f"quarantined: release with `ml-pipeline quarantine release --model {args.model} {report.data_uri} "
              "--reason ...` once the data is accepted as it is")
    return 1 if report.blocking else 0


def _data_uri(location: str, lake: str) -> str:
    """A partition given as a path, a URI or an entry id, as the validators name it (``s3://ml-data`` mapped)."""
    from ml_pipeline.data.lake import parse_uri_map, resolve_uri, to_uri

    if "://" not in location and "/" not in location:
        return location  # a quarantine entry id
    uri = to_uri(location) if "://" not in location else location.rstrip("/")
    return resolve_uri(uri, parse_uri_map(os.environ.get("ML_DATA_URI_MAP", f"s3://ml-data={lake}")))


def _quarantine(args: argparse.Namespace) -> int:
    from ml_pipeline.data.lake import to_uri
    from ml_pipeline.validation.quarantine import QuarantineError, QuarantineStore

    store = QuarantineStore(to_uri(args.lake))
    if args.action == "release":
        try:
            entry = store.release(args.model, _data_uri(args.partition, to_uri(args.lake)), args.reason)
        except QuarantineError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(entry, indent=2))
        return 0
    entries = store.list(args.model, everything=args.all)
    if not entries:
        print("no quarantined partitions" + (f" for {args.model}" if args.model else ""))
    for entry in entries:
        print(f"{entry['status']:<12} {entry['model']:<20} {entry['id']}  since {entry['quarantined_at']}")
        print(f"             data:   {entry['data_uri']}" + (f" [{entry['scope']}]" if entry["scope"] else ""))
        print(f"             report: {entry['report_uri']}")
        for failure in entry["failures"]:
            print(f"             - {failure}")
    return 0


# The two commands below operate a running platform: the CLI is where the layers meet, so it may import
# ml_platform (lazily, only for these commands); the core's library modules never do.
def _dlq(args: argparse.Namespace) -> int:
    from ml_platform import dead_letter_ops as ops
    from ml_platform.airflow_api import AirflowApiError
    from ml_platform.layout import Layout

    layout = Layout.from_env()
    try:
        if args.action == "list":
            letters = ops.store(layout).list(status=None if args.all else "pending", model=args.model)
            if not letters:
                print("no dead letters" + ("" if args.all else " pending"))
            for letter in letters:
                print(f"{letter.id:>5}  {letter.status:<9} {letter.created_at:%Y-%m-%d %H:%M:%S}  {letter.dag_id}."
                      f"{letter.task_id}{'' if letter.map_index < 0 else f'[{letter.map_index}]'}  try "
                      f"{letter.try_number}  run {letter.run_id}\n       {letter.exception_type}: "
                      f"{letter.exception_message.splitlines()[0][:160] if letter.exception_message else ''}")
            return 0
        if args.action == "show":
            print(ops.describe(ops.store(layout).get(args.id)))
            return 0
        letter = ops.replay(layout, args.id) if args.action == "replay" else ops.discard(layout, args.id, args.reason)
        print(f"dead letter {letter.id}: {letter.status} ({letter.note})")
        return 0
    except (LookupError, ValueError, AirflowApiError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _alerts(args: argparse.Namespace) -> int:
    from ml_platform import dead_letter_ops as ops
    from ml_platform.layout import Layout

    received = ops.alerts(Layout.from_env())
    if not received:
        print("no alerts received")
    for alert in received:
        first = (alert.get("subject") or alert.get("text") or "").splitlines()[0][:200]
        print(f"{alert['received_at'][:19]}  {alert['channel']:<6} {first}")
    return 0


def _deployments(args: argparse.Namespace) -> int:
    from ml_pipeline.deployment.history import describe
    from ml_platform import deployment_ops as ops
    from ml_platform.layout import Layout

    layout = Layout.from_env()
    aliases = ops.current_aliases(layout, args.model)
    print(f"{args.model}: " + (", ".join(f"{alias} v{version}" for alias, version in aliases.items())
                               or "not registered yet"))
    print(describe(ops.history(layout, args.model)))
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from ml_platform import deployment_ops as ops
    from ml_platform.airflow_api import AirflowApiError
    from ml_platform.layout import Layout

    try:
        run_id, state, event = ops.rollback(Layout.from_env(), args.model, args.to, args.reason)
    except (AirflowApiError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if state != "success" or event is None:
        print(f"rollback run {run_id} of model_deployment_{args.model} ended {state}: see its log in the Airflow UI",
              file=sys.stderr)
        return 1
    print(f"{args.model}: v{event.from_version} → v{event.to_version} (verified, run {run_id}): {event.reason}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ml_pipeline.deployment import serving

    serving.main(["--model", args.model, "--port", str(args.port),
                  *(["--version", args.version] if args.version else [])])
    return 0
