"""The watch window's trigger, run for real on the event loop against a lake folder."""

import asyncio
import datetime as dt

from ml_pipeline_airflow.triggers.model_performance import LabelledDataTrigger


def first_event(trigger: LabelledDataTrigger):
    async def run():
        async for event in trigger.run():
            return event.payload

    return asyncio.run(asyncio.wait_for(run(), timeout=30))


def test_fires_once_every_partition_of_the_window_has_parquet_files(tmp_path):
    days = [tmp_path / "2026-11-22", tmp_path / "2026-11-23"]
    days[0].mkdir()
    (days[0] / "part-0.parquet").write_bytes(b"x")
    in_an_hour = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    trigger = LabelledDataTrigger([d.as_uri() for d in days], in_an_hour, poke_interval=0.05)

    async def land_later():
        await asyncio.sleep(0.3)
        days[1].mkdir()
        (days[1] / "part-0.parquet").write_bytes(b"x")

    async def both():
        lander = asyncio.create_task(land_later())
        async for event in trigger.run():
            await lander
            return event.payload

    assert asyncio.run(asyncio.wait_for(both(), timeout=30)) == {"status": "ready"}
    path, kwargs = trigger.serialize()
    assert path == "ml_pipeline_airflow.triggers.model_performance.LabelledDataTrigger"
    assert LabelledDataTrigger(**kwargs).uris == trigger.uris


def test_gives_up_at_its_deadline_naming_the_missing_days(tmp_path):
    missing = (tmp_path / "2026-11-24").as_uri()
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    assert first_event(LabelledDataTrigger([missing], past, poke_interval=0.05)) == {
        "status": "timeout", "missing": [missing]}


def test_a_lake_that_does_not_answer_is_waited_out_until_the_deadline_and_a_bad_uri_ends_it(monkeypatch):
    """A connection refused by the lake is a hiccup, not a verdict: the watch keeps waiting (it failed, and the
    deployment rolled a healthy champion back); an error retrying cannot fix ends the wait, saying so."""
    import fsspec.config
    import s3fs

    monkeypatch.setitem(fsspec.config.conf, "s3", {  # a real S3 client; nothing listens on the discard port
        "endpoint_url": "http://127.0.0.1:9", "key": "x", "secret": "y",
        "client_kwargs": {"region_name": "eu-west-1"}, "config_kwargs": {"retries": {"max_attempts": 1}}})
    s3fs.S3FileSystem.clear_instance_cache()
    unreachable = "s3://lake/transactions/2026-11-24"
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)).isoformat()
    try:
        assert first_event(LabelledDataTrigger([unreachable], past, poke_interval=0.05)) == {
            "status": "timeout", "missing": [unreachable]}
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
    event = first_event(LabelledDataTrigger(["nosuchprotocol://lake/2026-11-24"], past, poke_interval=0.05))
    assert event["status"] == "unreadable" and "ValueError: Protocol not known: nosuchprotocol" in event["error"]


def test_a_lake_that_refuses_the_credentials_ends_the_wait_at_once_with_the_error(monkeypatch):
    """Expired or revoked keys (a real S3 server that checks them): waiting until the deadline cannot help, and the
    refusal is no verdict on the model. The trigger fires ``unreadable`` at its first check, naming the error (it
    raised: the watch failed, and the deployment rolled the champion back)."""
    import fsspec.config
    import s3fs

    from tests.support.services import moto_s3

    in_an_hour = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    with moto_s3(check_credentials=True) as url:
        monkeypatch.setitem(fsspec.config.conf, "s3", {"endpoint_url": url, "key": "expired", "secret": "y",
                                                       "client_kwargs": {"region_name": "us-east-1"}})
        s3fs.S3FileSystem.clear_instance_cache()
        try:
            event = first_event(LabelledDataTrigger(["s3://lake/transactions/2026-11-24"], in_an_hour, 60))
        finally:
            s3fs.S3FileSystem.clear_instance_cache()
    assert event == {"status": "unreadable", "error": "PermissionError: The AWS Access Key Id you provided does not "
                                                      "exist in our records."}
