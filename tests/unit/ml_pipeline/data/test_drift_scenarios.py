import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from ml_pipeline.cli import build_parser, main
from ml_pipeline.data.drift_scenarios import SCENARIOS, scenario_named
from ml_pipeline.data.generator import CATEGORIES, generate_dataset, generate_day
from ml_pipeline.data.loader import load_partition
from ml_pipeline.features.registry import build_features

DAY = dt.date(2026, 11, 20)
FEATURES = ["amount", "merchant_category", "transaction_count_1h", "transaction_avg_24h", "category_avg_amount_24h"]
INPUTS = ["transaction_id", "card_id", "merchant_id", "merchant_category", "amount", "region", "event_time"]


def test_days_before_the_drift_are_byte_identical_to_an_undrifted_dataset(tmp_path):
    plain = generate_dataset((tmp_path / "plain").as_uri(), DAY, 3, 2_000, seed=7)
    drifted = generate_dataset((tmp_path / "drifted").as_uri(), DAY, 3, 2_000, seed=7, drift="amount-inflation",
                               drift_from=DAY)
    def contents(uris):
        return [Path(uri.removeprefix("file://")).read_bytes() for uri in uris]

    assert contents(plain[:2]) == contents(drifted[:2]) and contents(plain[2:]) != contents(drifted[2:])
    assert generate_day(DAY, 2_000, 7, drift=None).equals(generate_day(DAY, 2_000, 7))


def test_amount_inflation_scales_every_amount_and_nothing_else():
    plain, drifted = generate_day(DAY, 3_000, 7), generate_day(DAY, 3_000, 7, drift=SCENARIOS["amount-inflation"])
    assert drifted.drop("amount").equals(plain.drop("amount"))
    # both are rounded to cents: |round(1.8 x) - 1.8 round(x)| <= 0.005 + 1.8 * 0.005
    assert np.allclose(drifted["amount"].to_numpy(), plain["amount"].to_numpy() * 1.8, rtol=0, atol=0.015)


def test_category_mix_moves_legitimate_spending_to_the_online_categories():
    plain, drifted = generate_day(DAY, 20_000, 7), generate_day(DAY, 20_000, 7, drift=SCENARIOS["category-mix"])
    online = pl.col("merchant_category").is_in(["online_retail", "electronics", "digital_goods", "crypto"])
    share = {name: frame.filter(pl.col("is_fraud") == 0).select(online.mean()).item()
             for name, frame in (("plain", plain), ("drifted", drifted))}
    assert share["plain"] == pytest.approx(0.27, abs=0.02) and share["drifted"] == pytest.approx(0.56, abs=0.02)
    assert drifted.filter(pl.col("is_fraud") == 1).equals(plain.filter(pl.col("is_fraud") == 1))


def test_fraud_pattern_changes_the_labels_only_and_a_model_trained_before_it_loses_its_auc():
    def features(day, drift=None):
        raw = pl.concat([generate_day(day - dt.timedelta(days=1), 20_000, 3),
                         generate_day(day, 20_000, 3, drift=drift)])
        built = build_features(raw, FEATURES).filter(pl.col("event_time").dt.date() == day)
        codes = pl.col("merchant_category").cast(pl.Enum(CATEGORIES)).to_physical()
        return built.with_columns(codes).select(FEATURES).to_numpy(), built["is_fraud"].to_numpy(), built

    after = DAY + dt.timedelta(days=1)
    train_x, train_y, _ = features(DAY)
    model = HistGradientBoostingClassifier(max_iter=60, random_state=0).fit(train_x, train_y)
    plain_x, plain_y, plain = features(after)
    drifted_x, drifted_y, drifted = features(after, SCENARIOS["fraud-pattern"])
    assert drifted.select(INPUTS).equals(plain.select(INPUTS)) and drifted_y.sum() == plain_y.sum()
    auc_before = roc_auc_score(plain_y, model.predict_proba(plain_x)[:, 1])
    auc_after = roc_auc_score(drifted_y, model.predict_proba(drifted_x)[:, 1])
    assert auc_before > 0.8 and auc_before - auc_after > 0.2, (auc_before, auc_after)


def test_generate_data_offers_exactly_the_known_scenarios_and_writes_them(tmp_path, capsys):
    assert all(build_parser().parse_args(["generate-data", "--drift", name]).drift == name for name in SCENARIOS)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["generate-data", "--drift", "unknown"])
    assert main(["generate-data", "--lake", str(tmp_path), "--end-date", "2026-11-21", "--days", "2",
                 "--rows-per-day", "1000", "--drift", "category-mix", "--drift-from", "2026-11-21"]) == 0
    assert "drift 'category-mix' from 2026-11-21 on" in capsys.readouterr().out
    days = tmp_path / "transactions"
    assert load_partition((days / "2026-11-20").as_uri()).equals(generate_day(DAY, 1000))
    assert main(["generate-data", "--lake", str(tmp_path), "--drift-from", "2026-11-21"]) == 2
    with pytest.raises(ValueError, match="unknown drift scenario 'x'; known: amount-inflation"):
        scenario_named("x")
