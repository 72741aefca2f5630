import datetime as dt

import polars as pl
import pytest

from ml_pipeline.data.generator import SCHEMA_ORDER, generate_dataset, generate_day
from ml_pipeline.features.fraud import engineer_fraud_features

DAY = dt.date(2026, 11, 20)


def test_same_seed_and_day_give_identical_data_and_other_days_differ():
    assert generate_day(DAY, 5_000, seed=7).equals(generate_day(DAY, 5_000, seed=7))
    assert not generate_day(DAY, 5_000, seed=7).equals(generate_day(DAY + dt.timedelta(days=1), 5_000, seed=7))


def test_schema_size_and_fraud_rate_are_realistic():
    frame = generate_day(DAY, 20_000)
    assert frame.columns == list(SCHEMA_ORDER)
    assert 19_000 <= frame.height <= 21_000
    assert 0.01 <= frame["is_fraud"].mean() <= 0.02
    assert frame["transaction_id"].n_unique() == frame.height
    assert frame["event_time"].dt.date().unique().to_list() == [DAY]


def test_card_testing_bursts_show_up_as_many_small_charges_within_an_hour():
    features = engineer_fraud_features(generate_day(DAY, 20_000))
    burst = features.filter((pl.col("transaction_count_1h") >= 3) & (pl.col("amount") < 6))
    assert burst.height > 50
    assert burst["is_fraud"].mean() > 10 * features["is_fraud"].mean()  # a strong but imperfect signal


def test_impressions_are_deterministic_with_a_realistic_click_rate():
    from ml_pipeline.data.impressions import generate_impressions_day

    frame = generate_impressions_day(DAY, 10_000)
    assert frame.equals(generate_impressions_day(DAY, 10_000))
    assert 0.03 <= frame["clicked"].mean() <= 0.08
    by_position = frame.group_by("position").agg(pl.col("clicked").mean()).sort("position")["clicked"]
    assert by_position[0] > by_position[-1]  # top slots get more clicks


def test_every_small_day_size_is_generated():
    """`--rows-per-day 200` crashed (`negative dimensions are not allowed`): a small day's card-testing bursts,
    three charges at least, exceeded its share of fraud. Each size now gives about that many rows."""
    for rows in range(1, 400):
        frame = generate_day(DAY, rows)
        assert rows <= frame.height <= rows + 3, rows
        assert frame["transaction_id"].n_unique() == frame.height


def test_a_day_of_no_rows_is_refused_and_the_days_files_are_kept(tmp_path):
    """Each day's partition is rewritten: 0 rows would replace a day of data with an empty file."""
    dataset = tmp_path.as_uri() + "/transactions"
    [written] = generate_dataset(dataset, dt.date(2026, 11, 20), days=1, rows_per_day=50)
    before = (tmp_path / "transactions" / "2026-11-20" / written.rsplit("/", 1)[1]).read_bytes()
    for rows, days in ((0, 1), (-5, 1), (50, 0)):
        with pytest.raises(ValueError, match=r"must be at least 1; nothing was written"):
            generate_dataset(dataset, dt.date(2026, 11, 20), days=days, rows_per_day=rows)
    assert (tmp_path / "transactions" / "2026-11-20" / written.rsplit("/", 1)[1]).read_bytes() == before
