"""The dashboard's test bed: a platform database seeded with realistic history, and a real ``airflow api-server``.

Shared by tests/integration/test_dashboard.py (2 models × 3 days) and benchmarks/dashboard.py (20 × 30 days).
Rows go in with PostgreSQL's COPY: 20 models × 30 days are about 650,000 ``platform_health`` rows.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import sqlalchemy as sa

from ml_pipeline.config import ModelConfig
from ml_pipeline.stores.schema import create_schema
from ml_platform.components import BIN
from ml_platform.supervisor import stop_process_tree
from tests.support.services import wait_http

SERVER = "postgresql://postgres@127.0.0.1:5432"
USER, PASSWORD = "admin", "dashboard-test-password"
KINDS = {"data_validation": "validation", "feature_engineering": "features", "ml_training": "training",
         "model_deployment": "deployment", "model_monitoring": "monitoring"}
DRIFTING_FEATURE_INDEX = 0  # the first feature of the first model drifts over the last day


@contextlib.contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """A new, uniquely named database on the machine's PostgreSQL; yield its SQLAlchemy URL, drop it after."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{SERVER}/postgres", connect_timeout=5)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        yield f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def seed(url: str, configs: list[ModelConfig], days: int, now: dt.datetime, seed_value: int = 7) -> None:
    """Create the platform schema (with the indexes the dashboard reads by) and fill it with ``days`` of history."""
    engine = sa.create_engine(url)
    try:
        create_schema(engine)
    finally:
        engine.dispose()
    rng = random.Random(seed_value)
    start = (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    health, checks, events, letters = [], [], [], []
    for n, config in enumerate(configs):
        health += _health_rows(config.model_name, start, now, rng)
        checks += _monitoring_rows(config, start, now, rng, drifting=n == 0)
        events += _deployment_rows(config.model_name, now)
        if n % 2 == 0:
            letters.append({"created_at": now - dt.timedelta(hours=3), "model": config.model_name,
                            "dag_id": f"ml_training_{config.model_name}", "run_id": f"scheduled__{n}",
                            "task_id": "train_model", "map_index": -1, "try_number": 4,
                            "exception_type": "MemoryError", "exception_message": "out of memory", "conf": "{}",
                            "inputs": "{}", "status": "pending"})
    health += _component_rows(start, now)
    with contextlib.closing(psycopg2.connect(url.replace("postgresql+psycopg2", "postgresql"))) as conn:
        for table, rows in (("platform_health", health), ("model_monitoring", checks),
                            ("deployment_events", events), ("dead_letters", letters)):
            _copy(conn, table, rows)
        conn.commit()
        with conn.cursor() as cur:
            cur.execute("ANALYZE")
        conn.commit()


def _copy(conn, table: str, rows: list[dict]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for row in rows:
        writer.writerow(["\\N" if row[c] is None else row[c] for c in columns])
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.copy_expert(f"COPY {table} ({', '.join(chr(34) + c + chr(34) for c in columns)}) FROM STDIN "
                        "WITH (FORMAT csv, NULL '\\N')", buffer)


def _times(start: dt.datetime, now: dt.datetime, minutes: int) -> list[dt.datetime]:
    count = int((now - start).total_seconds() // (minutes * 60))
    return [start + dt.timedelta(minutes=minutes * i, seconds=7) for i in range(count)]


def _health(when, check, subject, model, status, value, message, data, transition=None) -> dict:
    return {"checked_at": when, "run_id": f"scheduled__{when:%Y-%m-%dT%H:%M}", "check": check, "subject": subject,
            "model": model, "status": status, "value": value, "threshold": None, "message": message,
            "transition": transition, "data": json.dumps(data)}


def _health_rows(model: str, start: dt.datetime, now: dt.datetime, rng: random.Random) -> list[dict]:
    rows = []
    for when in _times(start, now, 30):
        for prefix, kind in KINDS.items():
            dag_id, base = f"{prefix}_{model}", 60 + 40 * len(kind)
            p50 = base * (1 + 0.1 * math.sin(when.timestamp() / 40000) + rng.uniform(-0.05, 0.05))
            failed = 1 if rng.random() < 0.05 else 0
            rate = {"runs_24h": 24, "failed_24h": failed, "success_rate_24h": 1 - failed / 24, "runs_7d": 168,
                    "success_rate_7d": round(0.93 + rng.uniform(0, 0.07), 3), "duration_p50_s": round(p50, 1),
                    "duration_p95_s": round(p50 * 1.4, 1), "baseline_p95_s": round(base * 1.4, 1), "kind": kind}
            rows += [_health(when, "run_failures", dag_id, model, "ok", failed / 24, f"{failed}/24 runs failed", rate),
                     _health(when, "run_duration", dag_id, model, "ok", round(p50 / base, 3), "p95 within baseline",
                             {}),
                     _health(when, "sla_misses", dag_id, model, "ok", 0.0, "no deadline missed",
                             {"missed_24h": 0, "deadline_minutes": 120}),
                     _health(when, "stuck_tasks", dag_id, model, "ok", 0.0, "nothing stuck", {"tasks": []}),
                     _health(when, "latest_run", dag_id, model, "ok", 0.0, "latest run succeeded",
                             {"state": "success"}),
                     _health(when, "queued_runs", dag_id, model, "ok", 0.0, "no run waiting", {"runs": []})]
        rows += [_health(when, "endpoint", f"{model.replace('_', '-')}-api", model, "ok", None,
                         "serving the champion v3", {"url": "http://127.0.0.1:9000", "answering": True,
                                                     "served_version": "3", "champion_version": "3"}),
                 _health(when, "dead_letters", model, model, "ok", 0.0, "no dead letters", {})]
    last = rows[-7].copy()  # the newest run: the training DAG missed its SLA twice and has a stuck task
    rows.append({**last, "check": "sla_misses", "subject": f"ml_training_{model}", "status": "alert", "value": 0.5,
                 "message": "2 of 4 runs missed their 120 min deadline", "transition": "started",
                 "data": json.dumps({"missed_24h": 2, "deadline_minutes": 120})})
    return rows


def _component_rows(start: dt.datetime, now: dt.datetime) -> list[dict]:
    return [_health(when, "component", name, None, "ok", 4.0, f"{name} heartbeat 4 s ago", {})
            for when in _times(start, now, 30) for name in ("scheduler", "triggerer", "dag_processor", "metadatabase")]


def _monitoring_rows(config: ModelConfig, start: dt.datetime, now: dt.datetime, rng: random.Random,
                     drifting: bool) -> list[dict]:
    rows, model = [], config.model_name
    for when in _times(start, now, 60):
        late = drifting and now - when < dt.timedelta(days=1)
        features = {}
        for i, name in enumerate(config.data.features):
            score = round(rng.uniform(0.01, 0.08) + (0.4 if late and i == DRIFTING_FEATURE_INDEX else 0), 4)
            features[name] = {"method": "psi", "score": score, "status": "alert" if score >= 0.25 else "stable"}
        auc = round(0.91 - (0.03 if late else 0) + rng.uniform(-0.01, 0.01), 4)
        rows.append({"created_at": when, "model": model, "version": "3", "dag_id": f"model_monitoring_{model}",
                     "run_id": f"scheduled__{when:%Y-%m-%dT%H}", "status": "alert" if late else "stable",
                     "reason": "1 of 5 features drifted" if late else "no drift", "rows": 5000,
                     "drift_share": round(sum(f["status"] == "alert" for f in features.values()) / len(features), 3),
                     "drifted": late, "decayed": False, "retrain_requested": False,
                     "report_uri": f"s3://ml-data/monitoring/{model}/{when:%Y%m%dT%H}/drift.html",
                     "features": json.dumps(features), "predictions": "{}", "target": "{}",
                     "live": json.dumps({"auc": auc, "precision": round(auc - 0.2, 4), "recall": round(auc - 0.3, 4),
                                         "floor": 0.85, "status": "ok", "reason": f"live auc {auc}"})})
    return rows


def _deployment_rows(model: str, now: dt.datetime) -> list[dict]:
    steps = [(20, "promoted", None, "2", "auc 0.912 >= 0.85 and beats nothing (first champion)"),
             (9, "promoted", "2", "3", "auc 0.921 beats champion v2 (0.912) by 0.009"),
             (5, "rejected", "3", "4", "auc 0.842 < min_auc_threshold 0.85"),
             (3, "promoted", "3", "5", "auc 0.925 beats champion v3 (0.921)"),
             (2, "rolled_back", "5", "3", "canary error rate 12% > 5%: restored v3")]
    return [{"created_at": now - dt.timedelta(days=days), "model": model, "action": action, "from_version": old,
             "to_version": new, "dag_id": f"model_deployment_{model}", "run_id": f"manual__{days}", "reason": reason,
             "details": "{}"} for days, action, old, new, reason in steps]


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def api_server(home: Path, airflow_db: str, platform_db: str, config_dir: Path | None = None) -> Iterator[str]:
    """``airflow db migrate`` on ``airflow_db``, then one real ``airflow api-server`` worker; yield its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    platform = sa.make_url(platform_db)
    home.mkdir(parents=True, exist_ok=True)
    (home / "dags").mkdir(exist_ok=True)
    (home / "passwords.json").write_text(json.dumps({USER: PASSWORD}))
    env = {**os.environ, "AIRFLOW_HOME": str(home), "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
           "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_db,
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
           "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
           "AIRFLOW__API__HOST": "127.0.0.1", "AIRFLOW__API__PORT": str(port), "AIRFLOW__API__BASE_URL": base,
           "AIRFLOW__API__WORKERS": "1", "AIRFLOW__API__SECRET_KEY": uuid.uuid4().hex,
           # HS512 wants a key of 64 bytes or more (as the platform's secrets.json): shorter, PyJWT warns on each token
           "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(64),
           "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
           "AIRFLOW_CONN_ML_PLATFORM_DB": json.dumps({"conn_type": "postgres", "host": platform.host,
                                                      "port": platform.port, "login": platform.username,
                                                      "schema": platform.database}),
           "MLFLOW_TRACKING_URI": "http://127.0.0.1:5000"}
    if config_dir:
        env["ML_PIPELINE_CONFIG_DIR"] = str(config_dir)
    subprocess.run([str(BIN / "airflow"), "db", "migrate"], env=env, check=True, capture_output=True)
    with open(home / "api-server.log", "ab") as log:
        proc = subprocess.Popen([str(BIN / "airflow"), "api-server"], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True, cwd=home)
    try:
        wait_http(f"{base}/api/v2/monitor/health", timeout=180)
        yield base
    finally:
        stop_process_tree(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
