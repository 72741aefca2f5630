"""A scheduler stopped while its PreloadingLocalExecutor forks its workers leaves no worker behind.

Airflow's scheduler handles SIGTERM by raising ``SystemExit`` wherever its main thread is, then ends its executor.
Landing just after a worker's fork, before the executor recorded it, the signal left an unknown worker that ignores
SIGTERM: the e2e ``down`` test saw the supervisor kill 19 processes after 30 s, when ``down`` came while a restarted
scheduler was forking. Here a real process forks real workers, and the signal lands in exactly that place each time:
a fork hook sends it from C (no Python code runs, so it is handled at the first Python line after ``os.fork``).
"""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from ml_pipeline_airflow.executors.local_executor import stop_signals_held
from tests.conftest import REPO_ROOT

SCHEDULER = """
import ctypes, functools, multiprocessing, os, signal, sys
from ml_pipeline_airflow.executors.local_executor import PreloadingLocalExecutor

# as Airflow's SchedulerJobRunner._exit_gracefully: SystemExit in the scheduler, nothing in a forked child
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0) if multiprocessing.parent_process() is None else None)
os.register_at_fork(after_in_parent=functools.partial(ctypes.CDLL(None).kill, os.getpid(), signal.SIGTERM))
executor = PreloadingLocalExecutor(parallelism=4)
try:
    executor.start()
    print("all workers started", flush=True)
finally:
    print("recorded workers:", *executor.__dict__.get("workers", {}), flush=True)
    executor.end()
    print("executor ended", flush=True)
"""


def session_processes(session: int) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == session:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            continue
    return found


def test_a_stop_signal_during_a_workers_fork_stops_every_worker(tmp_path):
    log = tmp_path / "scheduler.log"
    env = {**os.environ, "ML_PLATFORM_PRELOAD": "0"}  # the preloaded imports change nothing here: seconds saved
    with log.open("w") as out:
        scheduler = subprocess.Popen([sys.executable, "-c", SCHEDULER], cwd=REPO_ROOT, env=env, stdout=out,
                                     stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = scheduler.wait(timeout=120)
        deadline = time.monotonic() + 10  # a worker that got its poison pill is ending
        while session_processes(scheduler.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = session_processes(scheduler.pid)
    finally:
        for process in session_processes(scheduler.pid):  # on failure: nothing of it outlives the test
            process.send_signal(signal.SIGKILL)
        if scheduler.poll() is None:
            scheduler.kill()
    output = log.read_text()
    assert code == 0, output
    assert left == [], f"{[p.pid for p in left]} outlived the scheduler\n{output}"
    recorded = next(line for line in output.splitlines() if line.startswith("recorded workers:")).split()[2:]
    # the worker forked as the signal came was recorded (and then stopped); no other was forked
    assert len(recorded) == 1, output
    assert "all workers started" not in output and "executor ended" in output, output


@pytest.fixture
def sigterm_recorded():
    """SIGTERM handled by a handler that records it (this process's handler put back after)."""
    seen = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: seen.append(signum))
    yield seen
    signal.signal(signal.SIGTERM, before)


def test_a_signal_in_the_block_is_handled_after_it_and_the_holder_hands_on_once_done(sigterm_recorded):
    with stop_signals_held():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.1)  # handled (held) at the next line
        assert sigterm_recorded == []
        holder = signal.getsignal(signal.SIGTERM)
    assert sigterm_recorded == [signal.SIGTERM]
    # were the holder left in place (the putting back cut short by another signal), it hands a signal on
    holder(signal.SIGTERM, None)
    assert sigterm_recorded == [signal.SIGTERM, signal.SIGTERM]


def test_a_handler_set_from_outside_python_is_put_back_as_the_default(monkeypatch):
    """`signal.signal` answers None for a handler it did not set; putting None back raised TypeError."""
    set_to = {}

    def answers_none(signum, handler):  # as for a handler installed by C code: None
        set_to.setdefault(signum, []).append(handler)

    with monkeypatch.context() as patched:
        patched.setattr(signal, "signal", answers_none)
        with stop_signals_held():
            pass
    assert [handlers[-1] for handlers in set_to.values()] == [signal.SIG_DFL, signal.SIG_DFL]
