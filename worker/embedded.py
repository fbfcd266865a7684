"""The embedded queue: workers that take queued jobs straight from the job records.

With no broker configured (the default), ``preflight serve`` starts these beside the API: the
database is the queue, so nothing else needs to run. Each loop claims the oldest due job with
a conditional update (two workers never both win), runs the same task code as the Celery
worker, and sends due webhooks. A worker that dies leaves its job ``running`` under a lease;
when the lease runs out another worker takes it over (and counts the attempt).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from preflight.runtime import prepare_compiled_code, prepare_job_process
from preflight.settings import Settings
from worker.tasks import TransientError, WorkerContext, claim_next, process_job
from worker.webhooks import deliver_due

__all__ = ["run_worker_loop", "start_worker_processes"]

log = logging.getLogger("preflight.worker")
# Idle polling backs off from 0.1 s to 1 s: a new job is picked up within a second, and an
# idle worker costs a query a second, not a busy loop.
_IDLE_WAIT_MIN_S = 0.1
_IDLE_WAIT_MAX_S = 1.0


def run_worker_loop(
    settings: Settings, stop: threading.Event | Callable[[], bool], name: str = "embedded"
) -> None:
    """Process jobs and webhooks until ``stop`` is set."""
    ctx = WorkerContext(settings)
    should_stop = stop.is_set if isinstance(stop, threading.Event) else stop
    worker = f"{name}:{os.getpid()}"
    try:
        _loop(ctx, should_stop, stop, worker)
    finally:
        ctx.close()


def _loop(
    ctx: WorkerContext,
    should_stop: Callable[[], bool],
    stop: threading.Event | Callable[[], bool],
    worker: str,
) -> None:
    idle_wait = _IDLE_WAIT_MIN_S
    while not should_stop():
        busy = False
        try:
            job_id = claim_next(ctx)
            if job_id is not None:
                busy = True
                try:
                    process_job(ctx, job_id, worker)
                except TransientError as exc:
                    log.warning("job %s will be retried: %s", job_id, exc)
            busy = deliver_due(ctx) > 0 or busy
        except Exception:  # never let one bad job or a database hiccup end the loop
            log.exception("worker loop error; going on")
        if busy:
            idle_wait = _IDLE_WAIT_MIN_S
            continue
        if isinstance(stop, threading.Event):
            stop.wait(idle_wait)
        else:
            threading.Event().wait(idle_wait)
        idle_wait = min(_IDLE_WAIT_MAX_S, idle_wait * 2)


def _process_main(settings_json: str, index: int, parent_pid: int) -> None:
    prepare_job_process()  # before any job thread starts (see preflight.runtime)
    prepare_compiled_code()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    def should_stop() -> bool:
        # The server may die without a word (kill -9, or uvicorn re-raising SIGTERM after its
        # shutdown): a worker whose parent is gone stops instead of running on as an orphan.
        return stop.is_set() or os.getppid() != parent_pid

    run_worker_loop(Settings.model_validate_json(settings_json), should_stop, f"embedded-{index}")


def start_worker_processes(settings: Settings, count: int) -> list[BaseProcess]:
    """Start ``count`` worker processes (spawned: no state shared with the API process)."""
    context = multiprocessing.get_context("spawn")
    processes: list[BaseProcess] = []
    for index in range(count):
        process = context.Process(
            target=_process_main,
            args=(settings.model_dump_json(), index, os.getpid()),
            name=f"preflight-worker-{index}",
            daemon=True,
        )
        process.start()
        processes.append(process)
    return processes
