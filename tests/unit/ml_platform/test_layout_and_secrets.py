import stat

from ml_platform.components import components, platform_env
from ml_platform.layout import Layout
from ml_platform.secrets import ensure_secrets


def test_socket_dir_stays_short_enough_for_a_unix_socket(tmp_path):
    deep = Layout(tmp_path / ("x" * 90))
    assert len(str(deep.socket_dir / ".s.PGSQL.5432")) < 107
    assert Layout(tmp_path).socket_dir == tmp_path / "run"


def test_secrets_are_private_generated_once_and_feed_the_password_file(tmp_path):
    layout = Layout(tmp_path)
    first = ensure_secrets(layout.secrets_file, layout.passwords_file)
    again = ensure_secrets(layout.secrets_file, layout.passwords_file)
    assert first == again
    assert stat.S_IMODE(layout.secrets_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(layout.passwords_file.stat().st_mode) == 0o600
    assert first["admin_password"] in layout.passwords_file.read_text()
    assert len({first["fernet_key"], first["jwt_secret"], first["api_secret_key"]}) == 3


def test_embedded_default_uses_a_socket_and_production_an_external_server(tmp_path, monkeypatch):
    layout = Layout(tmp_path, airflow_port=18080, mlflow_port=15000)
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"postgresql+psycopg2://postgres@/airflow?host={tmp_path}/run"
    assert env["AIRFLOW__CORE__EXECUTOR"].endswith(".PreloadingLocalExecutor")  # Airflow's, preloading
    assert '"port": 15000' in env["AIRFLOW_CONN_MLFLOW_DEFAULT"]
    assert [c.name for c in components(layout)][0] == "postgres"
    monkeypatch.setenv("ML_PLATFORM_DATABASE_URL", "postgresql://ml:pw@db.internal:5432")
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://ml:pw@db.internal:5432/airflow"
    assert "postgres" not in [c.name for c in components(layout)]
