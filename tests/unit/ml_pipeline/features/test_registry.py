import pytest

from ml_pipeline.features.registry import build_features, functions_for
from tests.unit.ml_pipeline.frames import transactions


def test_derived_features_select_their_function_and_raw_columns_need_none():
    assert [f.name for f in functions_for(["amount", "transaction_count_1h"])] == ["card_windows"]
    assert functions_for(["amount", "merchant_category"]) == []


def test_raw_only_model_leaves_the_frame_untouched():
    frame = transactions([("a", 0, 1.0), ("a", 5, 2.0)])
    assert build_features(frame, ["amount", "region"]).equals(frame)
    assert "transaction_avg_24h" in build_features(frame, ["transaction_avg_24h"]).columns


def test_unknown_explicit_function_is_named():
    with pytest.raises(KeyError, match="unknown feature function.*rolling_magic.*known: card_windows"):
        functions_for(["amount"], explicit=["rolling_magic"])
