"""The LocalExecutor's scheduler loops faster while a task runs and as before while none does.

The platform shortens the scheduler's idle sleep to 0.1 s for the LocalExecutor (a task's end waits for the next
loop); the PreloadingLocalExecutor's ``sync`` sleeps the rest of 0.25 s in a loop with no workload out at its workers
and no result waiting, so an idle platform's scheduler loops as often as before. Real multiprocessing queues, as its
workers write them, without forking the workers.
"""

import ctypes
import multiprocessing
import time
from multiprocessing import SimpleQueue
from types import SimpleNamespace

import pytest
from airflow.executors.local_executor import LocalExecutor
from airflow.models.taskinstancekey import TaskInstanceKey
from airflow.utils.state import TaskInstanceState

from ml_pipeline_airflow.executors.local_executor import QUIET_LOOP_SLEEP_S, PreloadingLocalExecutor

KEY = TaskInstanceKey("probe", "second", "run-1", 1, -1)
LONG_S = 30.0  # far longer than a sync that does not sleep can take


@pytest.fixture
def executor():
    """The executor's queues, as ``start`` opens them."""
    found = PreloadingLocalExecutor(parallelism=2)
    found.activity_queue, found.result_queue, found.workers = SimpleQueue(), SimpleQueue(), {}
    found._unread_messages = multiprocessing.Value(ctypes.c_uint)
    yield found
    found.activity_queue.close()
    found.result_queue.close()


def timed_sync(executor: PreloadingLocalExecutor) -> float:
    started = time.monotonic()
    executor.sync()
    return time.monotonic() - started


def test_a_loop_with_nothing_sent_sleeps_the_rest_of_the_quiet_loop(executor):
    executor.quiet_top_up_s = 0.3
    assert 0.25 < timed_sync(executor) < LONG_S


def test_while_a_workload_is_out_no_loop_sleeps_and_its_result_ends_that(executor, monkeypatch):
    monkeypatch.setattr(LocalExecutor, "_check_workers", lambda self: None)  # no worker forked to take it
    workload = SimpleNamespace(key=KEY, ti=SimpleNamespace(priority_weight=1))
    executor.queued_tasks[KEY] = workload
    executor.trigger_tasks(open_slots=2)  # as the scheduler's heartbeat sends it
    assert executor.activity_queue.get() is not None and executor.in_flight == {KEY}
    executor.quiet_top_up_s = LONG_S
    assert timed_sync(executor) < 10, "a task runs: its end is handed off at the next loop"
    executor.result_queue.put((KEY, TaskInstanceState.SUCCESS, None))  # as its worker reports it
    assert timed_sync(executor) < 10, "a task has ended: the scheduler has work at once"
    assert executor.event_buffer == {KEY: (TaskInstanceState.SUCCESS, None)} and not executor.in_flight
    executor.quiet_top_up_s = 0.3
    assert 0.25 < timed_sync(executor) < LONG_S, "nothing out any more: a quiet loop again"


def test_a_dead_workers_workload_does_not_keep_the_loop_fast(executor, monkeypatch):
    """Its result never comes: the in-flight workloads are forgotten when Airflow reaps a dead worker."""
    executor.workers = {4242: None}
    executor.in_flight.add(KEY)
    monkeypatch.setattr(LocalExecutor, "_check_workers", lambda self: self.workers.pop(4242))  # Airflow's reaping
    executor._check_workers()
    assert not executor.in_flight


@pytest.mark.parametrize(("idle_sleep", "top_up"), [("0.1", QUIET_LOOP_SLEEP_S - 0.1), ("0.25", 0.0), ("1", 0.0)])
def test_the_top_up_is_what_the_schedulers_idle_sleep_lacks(monkeypatch, idle_sleep, top_up):
    monkeypatch.setenv("AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME", idle_sleep)
    assert PreloadingLocalExecutor(parallelism=1).quiet_top_up_s == pytest.approx(top_up)
