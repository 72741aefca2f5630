"""The dead-letter spool on SQLite: a private folder, unreadable files set aside with the reason, claims."""

import json
import os
import time

import pytest

from ml_pipeline.failures.spool import SPOOL_ENV, drain_spool, read_letter, rejected_files, spool, spool_folder
from tests.unit.ml_pipeline.failures.test_dead_letters import letter


def test_the_default_spool_is_the_users_own_state_folder_not_a_shared_temporary_one(tmp_path, monkeypatch):
    monkeypatch.delenv(SPOOL_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert spool_folder() == tmp_path / "state" / "ml-platform" / "dlq-spool"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert spool_folder() == tmp_path / "home" / ".local" / "state" / "ml-platform" / "dlq-spool"
    monkeypatch.setenv(SPOOL_ENV, str(tmp_path / "chosen"))
    assert spool_folder() == tmp_path / "chosen"


def test_spooled_files_are_private_and_a_folder_others_can_write_is_refused(tmp_path):
    path = spool(letter(), tmp_path / "spool")
    assert (path.parent.stat().st_mode & 0o777, path.stat().st_mode & 0o777) == (0o700, 0o600)
    planted = tmp_path / "planted"
    planted.mkdir()
    planted.chmod(0o777)
    with pytest.raises(PermissionError, match=f"dead-letter spool {planted} .* not be writable by others"):
        spool(letter(), planted)
    if os.getuid() == 0:  # another user's folder (as a shared /tmp allowed) is refused too
        os.chown(tmp_path / "spool", 65534, 65534)
        with pytest.raises(PermissionError, match="owned by uid 65534"):
            spool(letter(), tmp_path / "spool")


@pytest.mark.parametrize(("content", "reason"), [
    ("{not json", "not JSON"),
    ("[1, 2]", "a JSON object of dead-letter fields expected, found list"),
    (json.dumps({"dag_id": "d", "run_id": "r", "task_id": "t", "exception_type": "E", "exception_message": "m",
                 "map_index": -1}), "field 'try_number' must be an integer, found None"),
    (json.dumps({"dag_id": "d", "run_id": 7}), "field 'run_id' must be text, found 7"),
])
def test_a_file_that_holds_no_dead_letter_is_named_with_its_field(tmp_path, content, reason):
    (tmp_path / "x.json").write_text(content)
    with pytest.raises(ValueError, match=f"x.json: {reason}"):
        read_letter(tmp_path / "x.json")


def test_a_corrupt_file_is_set_aside_with_its_reason_and_the_others_move_in(store, tmp_path):
    folder = tmp_path / "spool"
    spool(letter(run_id="run-1"), folder)
    (folder / "00000000T000000-corrupt.json").write_text('{"dag_id": "d", "run_')  # a disk that filled up
    spool(letter(run_id="run-2"), folder)
    drained = drain_spool(store, folder)
    assert drained.moved == 2 and list(drained.rejected) == ["00000000T000000-corrupt.json"]
    assert sorted(d.run_id for d in store.list()) == ["run-1", "run-2"]
    assert list(folder.glob("*.json")) == [] and list(folder.glob("*.claim-*")) == []
    aside = rejected_files(folder)
    assert list(aside) == ["00000000T000000-corrupt.json"] and "not JSON" in aside["00000000T000000-corrupt.json"]
    assert (folder / "rejected" / "00000000T000000-corrupt.json").read_text() == '{"dag_id": "d", "run_'
    assert drain_spool(store, folder).rejected == {}  # set aside once, never retried


def test_an_entry_that_cannot_be_read_is_set_aside_and_the_others_still_move_in(store, tmp_path):
    folder = tmp_path / "spool"
    spool(letter(run_id="run-1"), folder)
    (folder / "00000000T000000-folder.json").mkdir()  # named like a letter, but no file: it stopped every drain
    spool(letter(run_id="run-2"), folder)
    drained = drain_spool(store, folder)
    assert drained.moved == 2 and list(drained.rejected) == ["00000000T000000-folder.json"]
    assert "cannot be read (Is a directory)" in rejected_files(folder)["00000000T000000-folder.json"]


def test_a_claim_left_by_a_drainer_that_died_is_taken_over_once_stale_and_stored_once(store, tmp_path):
    folder = tmp_path / "spool"
    path = spool(letter(run_id="run-crashed"), folder)
    store.add(read_letter(path))  # the dead drainer stored it, then died before deleting the file
    claim = path.with_name(path.stem + ".claim-deaddrainer")
    path.rename(claim)
    assert drain_spool(store, folder).moved == 0 and claim.exists()  # a live drainer's claim is left alone
    time.sleep(0.05)
    assert drain_spool(store, folder, stale_claim_s=0.01).moved == 1  # once older than stale_claim_s: taken over
    assert not claim.exists() and [d.run_id for d in store.list()] == ["run-crashed"]


def test_a_fresh_claim_of_a_letter_spooled_long_ago_is_not_taken_for_a_dead_drainers(store, tmp_path):
    """A rename keeps the file's mtime: a claim's age is the time of the rename (its ctime), or a second drainer
    would take over the claim a live one made a moment ago of a letter spooled an hour ago."""
    folder = tmp_path / "spool"
    path = spool(letter(run_id="run-old"), folder)
    os.utime(path, (time.time() - 3600, time.time() - 3600))  # spooled an hour ago (the database was down)
    claim = path.with_name(path.stem + ".claim-livedrainer")
    path.rename(claim)  # a live drainer claims it now
    assert drain_spool(store, folder).moved == 0 and claim.exists() and store.list() == []


def test_dates_of_the_run_travel_through_the_spool(store, tmp_path):
    import datetime as dt

    day = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    spool(letter(logical_date=day, data_interval_start=day - dt.timedelta(days=1), data_interval_end=day),
          tmp_path / "spool")
    drain_spool(store, tmp_path / "spool")
    [stored] = store.list()
    assert stored.logical_date.replace(tzinfo=dt.UTC) == day
    assert stored.data_interval_start.replace(tzinfo=dt.UTC) == day - dt.timedelta(days=1)
