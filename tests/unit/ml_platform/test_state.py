import os

import psutil

from ml_platform.state import component_alive, read_state, write_state


def test_a_reused_pid_is_not_taken_for_the_component():
    me = psutil.Process(os.getpid())
    assert component_alive({"pid": me.pid, "create_time": me.create_time()})
    assert not component_alive({"pid": me.pid, "create_time": me.create_time() - 3600})
    assert not component_alive({"pid": None})


def test_state_round_trip_and_missing_file(tmp_path):
    assert read_state(tmp_path / "state.json") == {"phase": "down", "components": {}}
    write_state(tmp_path / "state.json", {"phase": "running", "components": {"x": {"pid": 1}}})
    assert read_state(tmp_path / "state.json")["components"]["x"]["pid"] == 1
