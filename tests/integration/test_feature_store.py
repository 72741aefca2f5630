"""The feature store on real Feast (file offline store, SQLite online store; Redis + PostgreSQL registry when the
machine has them): what the feature pipeline writes is what training reads, point in time, without leakage."""

from __future__ import annotations

import contextlib
import datetime as dt
import random

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from ml_pipeline.config import config_dir, load_model_config
from ml_pipeline.data.generator import generate_dataset, write_day
from ml_pipeline.data.lake import read_parquet
from ml_pipeline.data.loader import load_partitions
from ml_pipeline.data.validator import DataValidationError
from ml_pipeline.feature_store.settings import FeatureStoreSettings
from ml_pipeline.feature_store.store import OnlineFeatures, open_store
from ml_pipeline.features.registry import build_features
from ml_pipeline.pipelines import features
from ml_pipeline.pipelines.context import RunContext
from ml_pipeline.validation.quarantine import QuarantineStore

pytestmark = pytest.mark.integration
CONFIG_PATH = config_dir() / "fraud_detection.yaml"
END = dt.date(2026, 11, 20)
DAYS = 3


def context(lake, store_root, day=END, run_id="features_1", settings=None) -> RunContext:
    return RunContext(load_model_config(CONFIG_PATH), CONFIG_PATH, day, lake.as_uri(), "http://unused",
                      "feature_engineering_fraud_detection", run_id, uri_map={"s3://ml-data": lake.as_uri()},
                      feature_store=settings or FeatureStoreSettings(root=store_root.as_uri()))


def run_feature_pipeline(ctx: RunContext) -> dict | None:
    """The feature DAG's steps, in process."""
    days = features.pending_days(ctx)
    computed = [features.compute_day(ctx, day) for day in days]
    return features.write_to_feature_store(ctx, computed) if computed else None


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    generate_dataset((lake / "transactions").as_uri(), END, DAYS, rows_per_day=3_000)
    ctx = context(lake, tmp_path_factory.mktemp("feature_store"))
    summary = run_feature_pipeline(ctx)
    return ctx, lake, summary


def test_pipeline_computes_every_day_once_and_then_has_nothing_to_do(store):
    ctx, _, summary = store
    assert summary["days"] == [(END - dt.timedelta(days=i)).isoformat() for i in (2, 1, 0)]
    assert summary["feature_views"] == ["fraud_detection__card_windows", "fraud_detection__merchant_category_stats"]
    assert features.pending_days(ctx) == []


def test_training_reads_from_the_store_exactly_what_the_in_memory_views_compute(store):
    ctx, _, _ = store
    frame, _ = load_partitions(ctx.dataset_uri, END, DAYS)
    from_store = features.historical_features(ctx, frame)
    in_memory = build_features(frame, ctx.config.data.features)
    columns = ["transaction_id", "transaction_count_1h", "transaction_avg_24h", "category_txn_count_24h",
               "category_avg_amount_24h"]
    assert from_store.height == frame.height  # nothing dropped or duplicated by the join
    assert from_store["transaction_id"].to_list() == frame["transaction_id"].to_list()
    assert_frame_equal(from_store.select(columns), in_memory.select(columns), rel_tol=1e-9)  # float sum order
    assert from_store["category_avg_amount_24h"].null_count() < frame.height / 10  # only the first day's first hours


def test_training_reads_row_for_row_what_feasts_own_point_in_time_retrieval_returns(store):
    """Training reads the offline files with polars; Feast's ``get_historical_features`` over the same files (the
    registry's file sources) is the reference: the same value in every row and column, nulls included."""
    from tests.support.feast_reference import feast_historical_features

    ctx, _, _ = store
    frame, _ = load_partitions(ctx.dataset_uri, END, DAYS)
    ours = features.historical_features(ctx, frame)
    feast = feast_historical_features(ctx.feature_store, ctx.config, frame)
    assert ours.columns == feast.columns and ours.height == feast.height == frame.height
    assert_frame_equal(ours, feast, rel_tol=1e-9)
    # a window that reaches before the store's first day reads no file that is not there: nulls, as Feast gives
    early = frame.with_columns(pl.col("event_time") - dt.timedelta(days=30)).head(200)
    assert_frame_equal(features.historical_features(ctx, early), feast_historical_features(ctx.feature_store,
                                                                                          ctx.config, early))
    assert features.historical_features(ctx, early)["transaction_count_1h"].null_count() == 200


def test_no_feature_value_from_after_an_example_reaches_training(store):
    """Brute force over the raw events: each sampled example's features use only events strictly before it (the
    card windows) or before its hour (category snapshots). A later transaction of the same card exists for most
    sampled rows, so a join that took a later feature row, or the row's own transaction, would change the value."""
    ctx, _, _ = store
    frame, _ = load_partitions(ctx.dataset_uri, END, DAYS)
    joined = features.historical_features(ctx, frame)
    events = frame.select("card_id", "merchant_category", "amount", "event_time").rows()
    sample = random.Random(7).sample(range(frame.height), 150)
    later_rows_of_same_card = 0
    for i in sample:
        row = joined.row(i, named=True)
        t = row["event_time"]
        card = [(e[3], e[2]) for e in events if e[0] == row["card_id"]]
        later_rows_of_same_card += any(when > t for when, _ in card)
        past_hour = [a for when, a in card if t - dt.timedelta(hours=1) <= when < t]
        past_day = [a for when, a in card if t - dt.timedelta(hours=24) <= when < t]
        assert row["transaction_count_1h"] == len(past_hour)
        assert row["transaction_avg_24h"] == (pytest.approx(sum(past_day) / len(past_day)) if past_day else None)
        hour = t.replace(minute=0, second=0, microsecond=0)
        category = [e[2] for e in events
                    if e[1] == row["merchant_category"] and hour - dt.timedelta(hours=24) <= e[3] < hour]
        if hour - dt.timedelta(hours=24) >= dt.datetime.combine(END - dt.timedelta(days=DAYS - 1), dt.time(),
                                                                tzinfo=dt.UTC):  # a full day of history
            assert row["category_txn_count_24h"] == len(category)
            assert row["category_avg_amount_24h"] == pytest.approx(sum(category) / len(category))
    assert later_rows_of_same_card > 100


def test_leakage_would_change_the_value_in_this_constructed_case(tmp_path):
    """A card with transactions at 10:00, 10:20 and 10:40 and a later 5,000 burst in the same category: the example
    at 10:20 must see one earlier transaction of 100, not the later ones; the 10:50 example's category average must
    not see the 10:55 burst."""
    lake = tmp_path / "lake"
    day = END
    base = dt.datetime.combine(day, dt.time(10), tzinfo=dt.UTC)
    rows = [("c-1", 0, 100.0, "grocery"), ("c-1", 20, 200.0, "grocery"), ("c-1", 40, 300.0, "grocery"),
            ("c-2", -120, 50.0, "grocery"), ("c-2", 55, 5_000.0, "grocery"), ("c-1", 50, 10.0, "grocery")]
    frame = pl.DataFrame({
        "transaction_id": [f"tx-{i}" for i in range(len(rows))], "card_id": [r[0] for r in rows],
        "merchant_id": ["m-1"] * len(rows), "merchant_category": [r[3] for r in rows],
        "amount": [r[2] for r in rows], "region": ["eu-west"] * len(rows),
        "event_time": [base + dt.timedelta(minutes=r[1]) for r in rows], "is_fraud": [0] * len(rows),
    }).with_columns(pl.col("is_fraud").cast(pl.Int8)).sort("event_time")
    write_day(frame, (lake / "transactions").as_uri(), day)
    ctx = context(lake, tmp_path / "store", day=day)
    ctx = RunContext(ctx.config.model_copy(update={"feature_store": ctx.config.feature_store.model_copy(
        update={"lookback_days": 1})}), CONFIG_PATH, day, ctx.lake_uri, ctx.tracking_uri, ctx.dag_id, ctx.run_id,
        uri_map=ctx.uri_map, feature_store=ctx.feature_store)
    with pytest.raises(DataValidationError, match="volume.min_rows"):  # bad data never becomes features
        features.compute_day(ctx, day.isoformat())
    QuarantineStore(ctx.lake_uri).release("fraud_detection", f"{ctx.dataset_uri}/{day}", reason="six rows on purpose")
    features.write_to_feature_store(ctx, [features.compute_day(ctx, day.isoformat())])
    joined = features.historical_features(ctx, frame).sort("event_time")
    by_id = {r["transaction_id"]: r for r in joined.iter_rows(named=True)}
    assert by_id["tx-0"]["transaction_count_1h"] == 0 and by_id["tx-0"]["transaction_avg_24h"] is None
    assert (by_id["tx-1"]["transaction_count_1h"], by_id["tx-1"]["transaction_avg_24h"]) == (1, 100.0)
    assert (by_id["tx-2"]["transaction_count_1h"], by_id["tx-2"]["transaction_avg_24h"]) == (2, 150.0)
    assert (by_id["tx-5"]["transaction_count_1h"], by_id["tx-5"]["transaction_avg_24h"]) == (3, 200.0)
    # 10:50 sees the 10:00 snapshot: only c-2's 08:00 transaction of 50, not the 10:55 burst (or 10:00-10:40)
    assert (by_id["tx-5"]["category_txn_count_24h"], by_id["tx-5"]["category_avg_amount_24h"]) == (1, 50.0)


def test_online_lookup_serves_each_entitys_latest_features(store):
    ctx, _, _ = store
    lookup = OnlineFeatures(ctx.feature_store, ctx.config)
    table = read_parquet(features.offline.data_uri(ctx.feature_store, "fraud_detection", "card_windows", END))
    card = table.sort("event_time")[-1]
    got = lookup.lookup([{"card_id": card["card_id"][0], "merchant_category": "grocery"},
                         {"card_id": "card-never-seen", "merchant_category": "grocery"}])
    assert got["transaction_count_1h"] == [card["transaction_count_1h"][0], None]
    assert got["transaction_avg_24h"][0] == pytest.approx(card["transaction_avg_24h"][0])
    assert got["category_avg_amount_24h"][0] == got["category_avg_amount_24h"][1] is not None
    with pytest.raises(KeyError, match="merchant_category"):
        lookup.lookup([{"card_id": "x"}])


def test_changed_data_makes_its_day_and_the_next_stale_until_recomputed(store, tmp_path):
    ctx, lake, _ = store
    frame, uris = load_partitions(ctx.dataset_uri, END, DAYS)
    from ml_pipeline.data.lake import fingerprint

    fingerprints = [fingerprint(uri)[0] for uri in uris]
    assert features.features_ready(ctx, uris, fingerprints) == (True, [])
    middle = END - dt.timedelta(days=1)
    extra = frame.filter(pl.col("event_time").dt.date() == middle).head(1).with_columns(
        pl.lit("tx-late").alias("transaction_id"))
    extra.write_parquet(lake / "transactions" / middle.isoformat() / "part-99999.parquet")
    new_fingerprints = [fingerprint(uri)[0] for uri in uris]
    ready, problems = features.features_ready(ctx, uris, new_fingerprints)
    assert not ready
    assert any(p.startswith(f"{middle} card_windows: ") and "changed since" in p for p in problems)
    assert any(p.startswith(f"{END} merchant_category_stats: ") for p in problems)  # the next day reads it too
    assert features.pending_days(ctx) == [middle.isoformat(), END.isoformat()]
    run_feature_pipeline(context(lake, None, run_id="features_2", settings=ctx.feature_store))
    assert features.features_ready(ctx, uris, new_fingerprints) == (True, [])
    assert open_store(ctx.feature_store).get_feature_view("fraud_detection__card_windows").name


@pytest.fixture
def production_settings(tmp_path):
    """Feast's SQL registry on the machine's PostgreSQL and its Redis online store (production mode)."""
    import socket
    import uuid

    import psycopg2

    for port, what in ((5432, "PostgreSQL"), (6379, "Redis")):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError as exc:
            pytest.skip(f"PRODUCTION FEATURE STORE NOT TESTED: no {what} on 127.0.0.1:{port} ({exc})")
    name = f"feast_registry_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    settings = FeatureStoreSettings(
        root=(tmp_path / "offline").as_uri(), project=f"test_{name[-8:]}",
        registry={"registry_type": "sql", "path": f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}",
                  "cache_ttl_seconds": 0},
        online_store={"type": "redis", "connection_string": "127.0.0.1:6379"})
    try:
        yield settings
    finally:
        with contextlib.suppress(Exception):
            open_store(settings).teardown()  # removes the project's keys from Redis
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


def test_production_mode_postgres_registry_and_redis_online_store_serve_the_same_features(store, production_settings):
    ctx, lake, _ = store
    production = context(lake, None, run_id="features_prod", settings=production_settings)
    summary = run_feature_pipeline(production)
    assert summary["days"] == [(END - dt.timedelta(days=i)).isoformat() for i in (2, 1, 0)]
    frame, _ = load_partitions(ctx.dataset_uri, END, DAYS)
    columns = ["transaction_count_1h", "transaction_avg_24h", "category_txn_count_24h", "category_avg_amount_24h"]
    assert_frame_equal(features.historical_features(production, frame).select(columns),
                       features.historical_features(ctx, frame).select(columns))
    rows = frame.select("card_id", "merchant_category").unique(maintain_order=True).head(50).to_dicts()
    online = OnlineFeatures(production_settings, ctx.config).lookup(rows)
    assert online == OnlineFeatures(ctx.feature_store, ctx.config).lookup(rows)
    assert sum(v is not None for v in online["transaction_count_1h"]) == 50
