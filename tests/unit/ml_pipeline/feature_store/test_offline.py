"""The offline store's manifests: written whole, and a broken one read as a day to compute again."""

import datetime as dt

import polars as pl

from ml_pipeline.feature_store import offline
from ml_pipeline.feature_store.settings import FeatureStoreSettings

DAY = dt.date(2026, 11, 20)


def test_a_manifest_is_written_whole_and_a_truncated_one_means_not_computed(tmp_path):
    settings = FeatureStoreSettings(root=(tmp_path / "store").as_uri())
    sources = {"file:///lake/transactions/2026-11-20": "abc"}
    written = offline.write_day(settings, "m", "card", DAY, pl.DataFrame({"x": [1, 2]}), sources, "run-1")
    folder = tmp_path / "store" / "offline" / "m" / "card" / "_manifest"
    assert sorted(p.name for p in folder.iterdir()) == ["2026-11-20.json"]  # no .tmp left beside it
    assert offline.read_manifest(settings, "m", "card", DAY) == written
    assert offline.stale_reason(written, sources) is None
    manifest = folder / "2026-11-20.json"
    for broken in ('{"model": "m", "sour', "", "[]", '{"sources": "abc"}'):  # killed mid-write, or not ours
        manifest.write_text(broken)
        assert offline.read_manifest(settings, "m", "card", DAY) is None
        assert offline.stale_reason(offline.read_manifest(settings, "m", "card", DAY), sources) == "not computed"
