"""Airflow's LocalExecutor, with the task stack preloaded in the scheduler before it forks its workers.

The platform's embedded default names it in ``[core] executor``. Each worker, and each task process forked from a
worker, inherits the imports (``preload.py``): a training task no longer spends seconds importing MLflow, its
model's library and polars. A stop signal waits until the worker being forked is recorded (``_spawn_worker``).
Each worker also lowers its CPU priority below the scheduler's as it starts
(``priority.py``). The scheduler then keeps what it preloaded out of its own garbage collections (below), and
sleeps less while a task runs (``sync``). Nothing else changes.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

from airflow.configuration import conf
from airflow.executors import local_executor as airflow_local
from airflow.executors.local_executor import LocalExecutor

from ml_pipeline_airflow.executors.preload import preload_task_stack
from ml_pipeline_airflow.executors.priority import lower_task_priority


def run_worker_at_task_priority(run_worker: Any, *args: Any, **kwargs: Any) -> None:
    """A LocalExecutor worker's loop (Airflow's ``_run_worker``), at the task processes' priority."""
    lower_task_priority()
    run_worker(*args, **kwargs)


STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """Hold a stop signal that arrives in the block; handle it, as it would have been, once the block is done.

    Airflow's scheduler stops on SIGTERM by raising ``SystemExit`` wherever its main thread is. Raised just after a
    worker was forked, before the executor recorded it, it left that worker unknown: ``end`` never sent it its
    poison pill (or it took another worker's, and ``end`` waited for ever), and it ignores SIGTERM (the scheduler's
    handler, inherited, does nothing in a child) — the supervisor had to kill them 30 s later. A process forked in
    the block inherits the holding handler, which hands a signal on to the previous handler there at once; so does
    the holding handler itself once the block is done (should a signal handled while the handlers were being put
    back have cut that short, a later signal is still handled, not held for no one).
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread handles signals
        yield
        return
    holder, held, previous, holding = os.getpid(), [], {}, [True]

    def hold(signum: int, frame: Any) -> None:
        if os.getpid() == holder and holding[0]:
            held.append(signum)
        else:
            deliver(previous[signum], signum, frame)

    try:
        for signum in STOP_SIGNALS:
            previous[signum] = signal.signal(signum, hold)
        yield
    finally:
        holding[0] = False
        for signum, handler in previous.items():  # None: set from outside Python; Python can only put the default
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in held:
            deliver(previous[signum], signum, None)


def deliver(handler: Any, signum: int, frame: Any) -> None:
    """Do what ``handler`` (as ``signal.signal`` returns it) does with ``signum``."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL or handler is None:  # None: set from outside Python, its default is as good
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


# How long the scheduler's loop sleeps in all when it had nothing to do and no task runs: as long as with Airflow's
# `scheduler_idle_sleep_time` of 0.25 s, which the platform shortens to 0.1 s for the loops while a task runs
QUIET_LOOP_SLEEP_S = 0.25


class PreloadingLocalExecutor(LocalExecutor):
    """LocalExecutor whose forked workers start with the task stack imported, at a lower CPU priority."""

    def start(self) -> None:
        # spawned workers would import everything again: nothing to share
        preloaded = self.is_mp_using_fork and preload_task_stack()
        # Airflow's _spawn_worker starts each worker (now and whenever one died) with the module's _run_worker
        if not isinstance(airflow_local._run_worker, functools.partial):
            airflow_local._run_worker = functools.partial(run_worker_at_task_priority, airflow_local._run_worker)
        super().start()
        if preloaded:
            # Airflow froze the collector to fork the workers and unfroze it after; the preloaded stack then made
            # each full collection in the scheduler traverse ~600,000 objects (0.35 s, one every ~15 s in a burst,
            # one of 1.3 s as the first runs started). Frozen again, they skip what lives as long as the scheduler.
            # A worker respawned later unfreezes it (Airflow's freeze, fork, unfreeze): as before this.
            gc.freeze()

    def _spawn_worker(self) -> None:
        with stop_signals_held():  # the worker is forked and recorded, or neither
            super()._spawn_worker()

    def sync(self) -> None:
        """Sleep what the scheduler's idle loop lacks of ``QUIET_LOOP_SLEEP_S`` while no task runs; then sync.

        A task's end waits for the scheduler's next loop before its downstream task is scheduled: on average half
        its idle sleep at every hand-off of a pipeline. The platform's LocalExecutor shortens that sleep (0.25 →
        0.1 s: `make bench`, mean gap between two tasks 0.20 → 0.09 s), and the idle loops of a quiet platform,
        with nothing sent to the workers whose end to hand off, sleep here for the rest: an idle scheduler costs
        what it did (its loops cost 4 → 9 CPU-s a minute unbounded). A loop with a result waiting does not.
        """
        if not self.in_flight and self.result_queue.empty():
            time.sleep(self.quiet_top_up_s)
        super().sync()

    @functools.cached_property
    def quiet_top_up_s(self) -> float:
        return max(0.0, QUIET_LOOP_SLEEP_S - conf.getfloat("scheduler", "scheduler_idle_sleep_time"))

    @functools.cached_property
    def in_flight(self) -> set:
        """The workloads sent to the workers whose result has not come back.

        Airflow's ``running`` stays empty for the LocalExecutor. Emptied when a worker dies: its workload never comes
        back (the scheduler fails it by its heartbeat), and the others' loops sleep as a quiet platform's then.
        """
        return set()

    def _process_workloads(self, workload_list: Any) -> None:
        super()._process_workloads(workload_list)
        self.in_flight.update(workload.key for workload in workload_list)

    def change_state(self, key: Any, state: Any, info: Any = None, remove_running: bool = True) -> None:
        self.in_flight.discard(key)
        super().change_state(key, state, info, remove_running=remove_running)

    def _check_workers(self) -> None:
        before = set(self.workers)
        super()._check_workers()
        if before - set(self.workers):  # reaped: a dead worker's workload is failed by the scheduler's own checks
            self.in_flight.clear()
