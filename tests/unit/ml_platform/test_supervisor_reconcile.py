"""The supervisor following the model configs: what it starts, stops, tells Airflow, and never loses.

The supervisor here carries out its plans on a record instead of starting processes; the Airflow it pauses DAGs
through is a real HTTP server that records each call.
"""

import json
import os
from http.server import ThreadingHTTPServer

import pytest
import yaml

from ml_pipeline.config import load_model_configs
from ml_pipeline.deployment.client import free_port
from ml_pipeline_airflow.dag_ids import model_dag_ids
from ml_platform.components import Component, components, platform_env
from ml_platform.layout import Layout, free_port_range, model_configs
from ml_platform.reconcile import config_fingerprint, follows_configs
from ml_platform.secrets import ensure_secrets
from ml_platform.supervisor import Supervisor
from tests.support.http_stubs import JsonHandler, serving
from tests.unit.ml_platform.test_serving_reconcile import write_model

# The DAGs the fake lists: two files, one holding two DAGs (each file is asked to be parsed once)
LISTED_DAGS = [{"dag_id": "ml_training_fraud_detection", "relative_fileloc": "ml_training.py", "file_token": "t1"},
               {"dag_id": "ml_training_breast_cancer", "relative_fileloc": "ml_training.py", "file_token": "t1"},
               {"dag_id": "model_deployment_fraud_detection", "relative_fileloc": "model_deployment.py",
                "file_token": "t2"}]


class FakeAirflow(ThreadingHTTPServer):
    """Airflow's login, ``PATCH /api/v2/dags/<id>`` (recorded as (dag id, body)), the DAG list and
    ``PUT /api/v2/parseDagFile/<token>`` (recorded; a token asked again and not parsed yet is a 409, as in Airflow).
    ``refuse``: answer every other call with this status instead."""

    def __init__(self) -> None:
        self.patches: list[tuple[str, dict]] = []
        self.parse_requests: list[str] = []
        self.refuse: int | None = None
        server = self

        class Handler(JsonHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                self._answer({"access_token": "token"})

            def do_PATCH(self) -> None:  # noqa: N802
                server.patches.append((self.path.removeprefix("/api/v2/dags/"), self.read_json()))
                self._answer({})

            def do_GET(self) -> None:  # noqa: N802
                assert self.path.startswith("/api/v2/dags?"), self.path
                offset = int(self.path.partition("offset=")[2] or 0)
                self._answer({"dags": LISTED_DAGS[offset:], "total_entries": len(LISTED_DAGS)})

            def do_PUT(self) -> None:  # noqa: N802
                token = self.path.removeprefix("/api/v2/parseDagFile/")
                conflict = token in server.parse_requests
                server.parse_requests.append(token)
                self._answer({"detail": "already requested"} if conflict else {}, 409 if conflict else 201)

            def _answer(self, body: dict, status: int = 200) -> None:
                if server.refuse and self.command != "POST":
                    status, body = server.refuse, {"detail": "refused"}
                self.answer_json(status, body)

        super().__init__(("127.0.0.1", 0), Handler)


class RecordingSupervisor(Supervisor):
    """A supervisor whose components are recorded as started and stopped, never run."""

    def __init__(self, layout: Layout, fail_once: set[str] = frozenset()) -> None:
        super().__init__(layout)
        self.started: list[str] = []
        self.stopped: list[str] = []
        self.fail_once = set(fail_once)

    def _start(self, spec: Component) -> None:
        self.started.append(spec.name)
        if spec.name in self.fail_once:
            self.fail_once.discard(spec.name)
            raise OSError(f"cannot start {spec.name}")

    def _stop(self, *specs: Component) -> None:
        self.stopped.extend(spec.name for spec in specs)

    def start_following(self, configs) -> None:
        """What ``run`` does before it supervises: the fingerprint, the specs, the bootstrap's last step."""
        self.follower.seen = self.follower.reparsed_for = config_fingerprint(configs)
        self.specs = [spec for spec in components(self.layout) if follows_configs(spec.name)]
        self.follower.start()


@pytest.fixture
def airflow():
    with serving(FakeAirflow()) as server:
        yield server


@pytest.fixture
def layout(tmp_path, monkeypatch, airflow):
    folder = tmp_path / "model_configs"
    folder.mkdir()
    monkeypatch.setenv("ML_PIPELINE_CONFIG_DIR", str(folder))
    # set in the environment, the connection is the operator's: the supervisor never writes it (no database here)
    monkeypatch.setenv("AIRFLOW_CONN_SERVING_DEFAULT", '{"conn_type": "generic"}')
    for name in ("ML_LAKE_URI", "ML_DATA_URI_MAP"):  # the supervisor sets them: put back what was there
        monkeypatch.setenv(name, os.environ.get(name, "unset"))
        monkeypatch.delenv(name)
    home = Layout(tmp_path / "home", airflow_port=airflow.server_address[1], serving_port=free_port_range(3),
                  metrics_port=free_port())
    home.ensure_dirs()
    return home


def configs_of(layout: Layout):
    return layout.home.parent / "model_configs"


def test_the_first_change_of_enabled_after_the_start_pauses_the_models_dags(layout, airflow):
    """The reported bug: nothing recorded `enabled` at the start, so its first change counted as a new model."""
    write_model(configs_of(layout), "fraud_detection", None)
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    assert json.loads((layout.home / "serving" / "enabled.json").read_text()) == {"fraud_detection": True}
    supervisor._reconcile()
    assert airflow.patches == []  # nothing changed since the start
    write_model(configs_of(layout), "fraud_detection", None, enabled=False)
    supervisor._reconcile()
    assert sorted(dag for dag, _ in airflow.patches) == sorted(model_dag_ids("fraud_detection"))  # each of its DAGs
    assert {json.dumps(body) for _, body in airflow.patches} == {'{"is_paused": true}'}
    assert supervisor.started == supervisor.stopped == []  # no endpoint: no server to stop


def test_an_enabled_changed_while_the_platform_was_down_is_applied_after_the_start(layout, airflow):
    write_model(configs_of(layout), "fraud_detection", None)
    (layout.home / "serving").mkdir(parents=True)
    (layout.home / "serving" / "enabled.json").write_text('{"fraud_detection": false}')
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    supervisor._reconcile()
    assert {json.dumps(body) for _, body in airflow.patches} == {'{"is_paused": false}'}


def test_an_unreadable_config_keeps_its_server_its_url_and_its_metrics(layout):
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api")
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    before = dict(supervisor.follower.endpoints)
    (configs_of(layout) / "breast_cancer.yaml").write_text("model_name: [half-saved\n")
    supervisor._reconcile()
    assert supervisor.follower.endpoints == before  # serving_default keeps the kept server's URL
    assert supervisor.started == supervisor.stopped == []  # the exporter keeps scraping it: not restarted


def test_a_file_that_never_read_does_not_keep_a_disabled_models_server(layout):
    """A broken file elsewhere in the folder (it never loaded) is no reason to keep serving a model switched off."""
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api")
    (configs_of(layout) / "broken.yaml").write_text("model_name: broken\ndata: {source: x}\n")
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api", enabled=False)
    supervisor._reconcile()
    assert "serving-breast-cancer-api" in supervisor.stopped
    assert set(supervisor.follower.endpoints) == {"fraud-detection-api"}


def test_a_kept_config_gives_way_to_a_readable_file_of_the_same_model(layout):
    """The model moved to another file, switched off, while its old file is half-saved: the readable one decides."""
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api")
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    (configs_of(layout) / "breast_cancer.yaml").write_text("model_name: [half-saved\n")
    raw = yaml.safe_load((configs_of(layout) / "fraud_detection.yaml").read_text())
    raw.update(model_name="breast_cancer", enabled=False)
    raw["deployment"]["endpoint_name"] = "breast-cancer-api"
    (configs_of(layout) / "cancer.yaml").write_text(yaml.safe_dump(raw))
    supervisor._reconcile()
    assert "serving-breast-cancer-api" in supervisor.stopped


@pytest.mark.parametrize("how", ["emptied", "removed"])
def test_a_missing_or_emptied_config_folder_keeps_every_model_server(layout, how):
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    (configs_of(layout) / "fraud_detection.yaml").unlink()
    if how == "removed":
        configs_of(layout).rmdir()
    supervisor._reconcile()
    assert supervisor.stopped == []
    assert "serving-fraud-detection-api" in [spec.name for spec in supervisor.specs]


def test_a_server_that_failed_to_start_is_started_at_the_next_reconcile(layout, airflow):
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    supervisor = RecordingSupervisor(layout, fail_once={"serving-breast-cancer-api"})
    supervisor.start_following(configs_of(layout))
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api")
    supervisor._reconcile_safely()
    supervisor._reconcile_safely()
    assert supervisor.started.count("serving-breast-cancer-api") == 2  # failed, then started
    assert airflow.parse_requests == ["t1", "t2"], "the same folder is parsed once, however often it is retried"
    assert "serving-breast-cancer-api" in [spec.name for spec in supervisor.specs]
    assert "breast-cancer-api" in supervisor.follower.endpoints


def test_the_supervisor_checks_data_sources_against_the_lake_airflow_sees(layout, tmp_path, monkeypatch):
    """A file:// source under a custom home's lake: valid to Airflow's tasks, so it must be to the supervisor."""
    monkeypatch.chdir(tmp_path)  # the fallback lake (.platform/lake, relative) is not this home's
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api",
                source=f"{layout.lake.as_uri()}/transactions/")
    _, errors = load_model_configs(sorted(configs_of(layout).glob("*.yaml")))
    assert errors, "without the platform's lake the source lies outside the data roots"
    assert [c.model_name for c in model_configs(layout)] == ["fraud_detection"]  # ml-platform status
    RecordingSupervisor(layout)
    assert [c.model_name for c in model_configs()] == ["fraud_detection"]
    env = platform_env(layout, ensure_secrets(layout.secrets_file, layout.passwords_file))
    assert {name: os.environ[name] for name in layout.data_env()} == {name: env[name] for name in layout.data_env()}


def test_a_config_change_asks_the_dag_processor_to_parse_each_dag_file_now(layout, airflow):
    """A model dropped in shows its DAGs in seconds, not at the dag-processor's next interval (60 s)."""
    write_model(configs_of(layout), "fraud_detection", None)
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    supervisor._reconcile()
    assert airflow.parse_requests == []  # nothing changed since the start
    write_model(configs_of(layout), "breast_cancer", None)
    supervisor._reconcile()
    assert airflow.parse_requests == ["t1", "t2"]  # each file once, whatever the number of its DAGs
    write_model(configs_of(layout), "breast_cancer", None, enabled=False)
    supervisor._reconcile()  # asked again before the first was parsed: Airflow's 409, and the reconcile goes on
    assert airflow.parse_requests == ["t1", "t2", "t1", "t2"]
    assert sorted(dag for dag, _ in airflow.patches) == sorted(model_dag_ids("breast_cancer"))


def test_an_api_that_refuses_the_parse_request_leaves_the_models_servers_started(layout, airflow, caplog):
    """The request only hurries the dag-processor: without it the DAGs come at its interval."""
    write_model(configs_of(layout), "fraud_detection", "fraud-detection-api")
    supervisor = RecordingSupervisor(layout)
    supervisor.start_following(configs_of(layout))
    airflow.refuse = 403
    write_model(configs_of(layout), "breast_cancer", "breast-cancer-api")
    supervisor._reconcile()
    assert "cannot ask the dag-processor to parse the DAG files now" in caplog.text and "403" in caplog.text
    assert "serving-breast-cancer-api" in supervisor.started
    assert "breast-cancer-api" in supervisor.follower.endpoints
