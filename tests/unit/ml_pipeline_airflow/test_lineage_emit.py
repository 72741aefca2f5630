"""DatasetRef → OpenLineage datasets with our facets, written by a real OpenLineage client; failures never raise."""

import datetime as dt

import pytest
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.uuid import generate_new_uuid

from ml_pipeline.lineage import naming
from ml_pipeline.lineage.events import StepLineage
from ml_pipeline.lineage.store import read_event_file
from ml_pipeline_airflow.lineage import emit
from tests.support import lineage_events as ev

SNAPSHOT = naming.uri_dataset("file:///lake/runs/d/r/snapshot.parquet", naming.SNAPSHOT, version="sha-1", rows=3000,
                              schema=(("amount", "double"), ("is_fraud", "int64")))
ENDPOINT = naming.endpoint_dataset("fraud-detection-api", properties={
    "model": "fraud_detection", "version": "2", "from": "2026-11-20T07:00:00+00:00", "action": "promoted"})
FACET = {"model": "fraud_detection", "git_commit": "abc123", "config_hash": "cfg1", "trigger": "schedule",
         "dag_id": "ml_training_fraud_detection", "run_id": "scheduled__1", "git_dirty": "false"}


def written_event(tmp_path, inputs, outputs, facet: dict[str, str] = FACET) -> dict:
    """One RUNNING event with our datasets and run facet, through a real client and file transport, read back."""
    path = tmp_path / "events.jsonl"
    client = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=str(path), append=True)))
    client.emit(RunEvent(eventType=RunState.RUNNING, eventTime=dt.datetime.now(dt.UTC).isoformat(),
                         run=Run(runId=str(generate_new_uuid()), facets=emit.run_facets(facet)),
                         job=Job(namespace="ml-platform", name="ml_training_fraud_detection.load_data"),
                         inputs=[emit.input_dataset(ref) for ref in inputs],
                         outputs=[emit.output_dataset(ref) for ref in outputs], producer=ev.PRODUCER))
    (event,) = read_event_file(path)
    return event


def without_producers(value):
    """The facets without ``_producer``/``_schemaURL`` (ours and the fixtures' differ) and empty nested lists."""
    if isinstance(value, dict):
        return {k: without_producers(v) for k, v in value.items()
                if k not in ("_producer", "_schemaURL") and v != []}
    if isinstance(value, list):
        return [without_producers(v) for v in value]
    return value


def test_datasets_carry_version_schema_statistics_and_our_facet_as_the_graph_reads_them(tmp_path):
    event = written_event(tmp_path, [SNAPSHOT], [ENDPOINT])
    (snapshot,), (endpoint,) = event["inputs"], event["outputs"]
    assert (snapshot["namespace"], snapshot["name"]) == ("file", "/lake/runs/d/r/snapshot.parquet")
    assert snapshot["facets"]["version"]["datasetVersion"] == "sha-1"
    assert [f["name"] for f in snapshot["facets"]["schema"]["fields"]] == ["amount", "is_fraud"]
    assert snapshot["inputFacets"]["inputStatistics"]["rowCount"] == 3000
    assert snapshot["facets"]["mlPlatform"]["kind"] == "snapshot"
    assert endpoint["facets"]["mlPlatform"] == {**endpoint["facets"]["mlPlatform"], "kind": "endpoint",
                                                "from": "2026-11-20T07:00:00+00:00", "action": "promoted"}
    assert "outputFacets" not in endpoint or not endpoint["outputFacets"]  # no rows: no statistics
    assert without_producers(event["run"]["facets"]["mlPlatform"]) == FACET
    # the same shape as the events the graph's tests are written against
    assert without_producers(snapshot) == without_producers(ev.dataset(SNAPSHOT, "input"))
    assert without_producers(endpoint)["facets"] == without_producers(ev.dataset(ENDPOINT, "output"))["facets"]


def test_nothing_is_built_when_openlineage_is_off(monkeypatch):
    monkeypatch.setattr("airflow.providers.openlineage.api.is_openlineage_active", lambda: False)
    monkeypatch.setattr("ml_pipeline.lineage.events.step_lineage", pytest.fail)
    assert emit.emit_step_lineage("load_data", object(), (), {}) is False


def test_a_failing_emission_is_logged_and_counted_never_raised(monkeypatch, caplog):
    def broken(**kwargs):
        raise ConnectionError("receiver down")

    counted = []
    monkeypatch.setattr("airflow.providers.openlineage.api.emit_dataset_lineage", broken)
    monkeypatch.setattr("airflow.providers.common.compat.sdk.Stats.incr", lambda name, *a, **k: counted.append(name))
    before = emit.FAILURES
    assert emit.emit_lineage(StepLineage("load_data", (SNAPSHOT,), ()), FACET) is False
    assert before + 1 == emit.FAILURES and counted == ["ml_platform.lineage.emit_failed"]
    assert "load_data: receiver down" in caplog.text

    monkeypatch.setattr("airflow.providers.openlineage.api.is_openlineage_active", lambda: True)
    monkeypatch.setattr("ml_pipeline.lineage.events.step_lineage", lambda *a: 1 / 0)  # a bug in the mapping
    assert emit.emit_step_lineage("load_data", object(), (), {}) is False
    assert before + 2 == emit.FAILURES


def test_the_event_goes_out_with_the_steps_datasets_and_run_facet(monkeypatch):
    sent = {}
    monkeypatch.setattr("airflow.providers.openlineage.api.emit_dataset_lineage", lambda **kw: sent.update(kw))
    assert emit.emit_lineage(StepLineage("promote", (SNAPSHOT,), (ENDPOINT,)), FACET) is True
    assert [d.name for d in sent["inputs"]] == [SNAPSHOT.name] and [d.name for d in sent["outputs"]] == [ENDPOINT.name]
    assert sent["additional_run_facets"]["mlPlatform"].trigger == "schedule" and sent["raise_on_error"] is True


def start_event() -> RunEvent:
    return RunEvent(eventType=RunState.START, eventTime=dt.datetime.now(dt.UTC).isoformat(),
                    run=Run(runId=str(generate_new_uuid())), job=Job(namespace="ml-platform", name="j"),
                    producer=ev.PRODUCER)


def test_the_platforms_transport_only_appends_to_the_events_file(tmp_path):
    """No HTTP, no database in a task: the lineage shipper stores the file's lines (tests/integration)."""
    import json

    from openlineage.client.transport import get_default_factory

    from ml_platform.layout import Layout
    from ml_platform.lineage_transport import openlineage_env, transport

    layout = Layout(tmp_path)
    layout.ensure_dirs()
    config = transport(layout)
    assert json.loads(openlineage_env(layout, "tok")["AIRFLOW__OPENLINEAGE__TRANSPORT"]) == config
    file = get_default_factory().create(config)
    assert isinstance(file, FileTransport)
    client = OpenLineageClient(transport=file)
    client.emit(start_event())
    client.emit(start_event())
    assert [e["eventType"] for e in read_event_file(layout.lineage_events_file)] == ["START", "START"]


def test_the_receivers_http_transport_retries_a_post_once_after_a_503_and_gives_up_quickly(tmp_path):
    """Compose and Helm post to the receiver: one retry (urllib3 retries a POST only when told to), then raise."""
    import http.server
    import threading
    import time

    from openlineage.client.transport import get_default_factory

    from ml_platform.lineage_transport import http_transport

    answers, posts = [503, 200], []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            posts.append((self.path, self.headers["Authorization"]))
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(answers.pop(0) if answers else 503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = OpenLineageClient(transport=get_default_factory().create(
            http_transport(f"http://127.0.0.1:{server.server_port}", "tok")))
        client.emit(start_event())  # 503, then 200: stored on the retry
        assert posts == [("/ml-platform/api/lineage", "Bearer tok")] * 2
        started = time.perf_counter()
        with pytest.raises(Exception, match="503|failed|Max retries"):  # 503 twice: raised to the provider
            client.emit(start_event())
        assert len(posts) == 4 and time.perf_counter() - started < 3
    finally:
        server.shutdown()
        server.server_close()


def test_the_run_facet_the_steps_build_is_the_one_the_events_carry(tmp_path):
    """Every key of the core's ``run_facet`` is a field of ``MlPlatformRunFacet``: an unknown one would fail every
    step's event (caught and counted, so no task fails: only this test says so)."""
    from ml_pipeline.lineage.events import run_facet
    from tests.unit.ml_pipeline.pipelines.test_context import make_context

    facet = run_facet(make_context())
    event = written_event(tmp_path, [SNAPSHOT], [], facet)
    assert without_producers(event["run"]["facets"]["mlPlatform"]) == facet
    assert facet["git_dirty"] in ("true", "false")
