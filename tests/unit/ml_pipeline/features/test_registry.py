import datetime as dt

import polars as pl
import pytest

from ml_pipeline.features.fraud import category_stats_table, engineer_fraud_features
from ml_pipeline.features.registry import (
    FEATURE_VIEWS,
    build_features,
    point_in_time_join,
    required_input_columns,
    views_for,
)
from tests.unit.ml_pipeline.frames import T0, transactions


def test_derived_features_select_their_view_and_raw_columns_need_none():
    assert [v.name for v in views_for(["amount", "transaction_count_1h"])] == ["card_windows"]
    assert [v.name for v in views_for(["amount_to_avg_24h"])] == ["card_windows"]  # through the request feature
    assert [v.name for v in views_for(["category_avg_amount_24h", "transaction_avg_24h"])] == [
        "card_windows", "merchant_category_stats"]
    assert views_for(["amount", "merchant_category"]) == []
    assert required_input_columns(["amount_to_avg_24h"]) == ["amount", "transaction_id", "card_id", "event_time"]


def test_raw_only_model_leaves_the_frame_untouched():
    frame = transactions([("a", 0, 1.0), ("a", 5, 2.0)])
    assert build_features(frame, ["amount", "region"]).equals(frame)
    assert "transaction_avg_24h" in build_features(frame, ["transaction_avg_24h"]).columns


def test_unknown_explicit_view_is_named():
    with pytest.raises(KeyError, match="unknown feature view.*rolling_magic.*known: card_windows"):
        views_for(["amount"], explicit=["rolling_magic"])


def test_card_windows_through_the_point_in_time_join_equal_the_direct_rolling_features():
    frame = transactions([("a", 0, 10.0), ("a", 30, 20.0), ("b", 31, 5.0), ("a", 30, 7.0), ("a", 95, 1.0),
                          ("b", 60 * 30, 3.0)])
    joined = build_features(frame, ["transaction_count_1h", "transaction_avg_24h", "amount_to_avg_24h"])
    direct = engineer_fraud_features(frame)
    columns = ["transaction_id", "transaction_count_1h", "transaction_avg_24h", "amount_to_avg_24h"]
    assert joined.select(columns).sort("transaction_id").equals(direct.select(columns).sort("transaction_id"))


def test_category_stats_use_only_the_past_24_hours_before_the_hour():
    # 12:10 and 13:20 grocery; 13:40 travel. An example at 13:50 sees the 13:00 snapshot: only 12:10 counts
    # (13:20 happened after the snapshot's hour began); at 14:05 both grocery rows count.
    frame = pl.concat([transactions([("a", 10, 10.0), ("b", 80, 30.0)]),
                       transactions([("c", 100, 99.0)], category="travel")])
    view = FEATURE_VIEWS["merchant_category_stats"]
    table = category_stats_table(frame, T0, T0 + dt.timedelta(hours=3))
    examples = transactions([("x", 110, 0.0), ("x", 125, 0.0)])
    joined = point_in_time_join(examples, table, view)
    assert joined["category_txn_count_24h"].to_list() == [1, 2]
    assert joined["category_avg_amount_24h"].to_list() == [10.0, 20.0]
    # A day later the 12:10 row has left the 24 h window, and rows past the ttl (48 h) are not served.
    late = point_in_time_join(transactions([("x", 60 * 24 + 75, 0.0), ("x", 60 * 80, 0.0)]),
                              category_stats_table(frame, T0, T0 + dt.timedelta(hours=26)), view)
    assert late["category_txn_count_24h"].to_list() == [1, None]
