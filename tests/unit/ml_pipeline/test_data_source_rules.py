"""``data.source``: only the allowed schemes, local folders only under the data roots, nothing that climbs out."""

import re

import pytest

from ml_pipeline.cli import main
from ml_pipeline.config import ConfigError, load_model_config
from ml_pipeline.data.lake import to_uri
from ml_pipeline.data.paths import UnsafePathError
from ml_pipeline.data.uris import source_uri
from tests.conftest import REPO_ROOT

FRAUD = REPO_ROOT / "config" / "model_configs" / "fraud_detection.yaml"


@pytest.fixture
def lake(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    lake.mkdir()
    monkeypatch.setenv("ML_LAKE_URI", to_uri(lake))
    monkeypatch.delenv("ML_DATA_ALLOWED_SCHEMES", raising=False)
    monkeypatch.delenv("ML_DATA_ALLOWED_ROOTS", raising=False)
    return lake


def config_with_source(folder, source: str):
    path = folder / "model.yaml"
    path.write_text(FRAUD.read_text().replace("source: s3://ml-data/transactions/", f"source: '{source}'"))
    return path


@pytest.mark.parametrize(("source", "says"), [
    ("../../../../etc", "climbs out of its folder with '..'"),
    ("transactions/../../../etc", "climbs out of its folder with '..'"),
    ("s3://ml-data/../../etc", "climbs out of its folder with '..'"),
    ("http://169.254.169.254/latest/meta-data/", "scheme 'http://' of .* is not allowed \\(allowed: file, s3\\)"),
    ("gs://bucket/clicks", "scheme 'gs://' .* ML_DATA_ALLOWED_SCHEMES"),
    ("simplecache::s3://bucket/x", "chains fsspec protocols"),
    ("file:///etc", "is outside the data roots .* ML_DATA_ALLOWED_ROOTS"),
    ("/etc/passwd", "is outside the data roots"),
])
def test_check_config_refuses_a_source_with_the_field_the_file_and_the_fix(lake, tmp_path, capsys, source, says):
    path = config_with_source(tmp_path, source)
    assert main(["check-config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: invalid model config: field 'data.source'" in err
    assert re.search(says, err), err


@pytest.mark.parametrize("source", ["transactions/", "s3://ml-data/transactions/", "s3://other-bucket/clicks"])
def test_the_usual_sources_are_accepted(lake, tmp_path, source):
    assert load_model_config(config_with_source(tmp_path, source)).data.source == source


def test_a_local_source_under_the_lake_is_accepted(lake, tmp_path):
    for source in (f"{to_uri(lake)}/transactions", str(lake / "transactions")):
        assert load_model_config(config_with_source(tmp_path, source)).data.source == source


def test_the_platform_adds_roots_and_schemes(lake, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    monkeypatch.setenv("ML_DATA_ALLOWED_ROOTS", f"{tmp_path / 'other'}:{to_uri(shared)}")
    monkeypatch.setenv("ML_DATA_ALLOWED_SCHEMES", "file, s3, gs")
    assert load_model_config(config_with_source(tmp_path, f"{to_uri(shared)}/clicks")).data.source
    assert load_model_config(config_with_source(tmp_path, "gs://bucket/clicks")).data.source
    with pytest.raises(ConfigError, match="outside the data roots"):
        load_model_config(config_with_source(tmp_path, f"{to_uri(tmp_path / 'elsewhere')}/clicks"))


def test_the_shipped_configs_pass(lake):
    assert main(["check-config"]) == 0


def test_where_a_source_is_read_it_stays_under_the_lake_or_a_mapped_root(lake):
    uri_map = {"s3://ml-data": to_uri(lake)}
    assert source_uri("s3://ml-data/transactions/", to_uri(lake), uri_map) == f"{to_uri(lake)}/transactions"
    assert source_uri(str(lake / "clicks"), to_uri(lake), uri_map) == f"{to_uri(lake)}/clicks"  # a path: local
    for source in ("clicks/../../../etc", "s3://ml-data/../../etc", "/etc"):  # a config that skipped its check
        with pytest.raises(UnsafePathError, match="outside the data roots"):
            source_uri(source, to_uri(lake), uri_map)
