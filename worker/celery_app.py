"""The production queue: Celery on Redis (or RabbitMQ), configured from the same settings.

Reliability, chosen on purpose:

* **Late acknowledgement** (``task_acks_late``) and **re-delivery when a worker process
  dies** (``task_reject_on_worker_lost``): a message is acknowledged only when its job has
  finished, so a killed worker child gives the job back to the queue instead of losing it.
  The task is idempotent (see :mod:`worker.tasks`), so running it again is safe.
* **One message at a time per child** (``worker_prefetch_multiplier=1``): a dying worker
  holds as few un-acknowledged jobs as possible, and long jobs do not queue behind each other
  in one child while another child is idle.
* **Time limits**: soft = the job deadline (the job fails as ``deadline-exceeded``), hard =
  soft + 30 s (the child is killed: a stuck decoder cannot hold a slot forever).
* **Visibility timeout** (Redis): an un-acknowledged message is handed to another worker
  after this long, so it must be longer than the hard limit plus the longest retry delay, or
  a healthy slow job would be run twice; :func:`check_reliability` refuses to start otherwise.
* **Attempts in the job record**: a file that kills the worker every time ends ``failed``
  after 3 attempts instead of looping (counted at each claim, see :mod:`worker.tasks`).
* **Memory cap** per child (``worker_max_memory_per_child``): a child that grew past it is
  replaced after its job; large artworks cannot slowly exhaust the machine.
* **Retries only for transient errors** (storage, database), with backoff; a bad artwork
  fails at once.

Around the queue, each worker's main process runs :class:`Maintenance` in a thread: it sends
jobs recorded while the broker was down (the records are the outbox), requeues jobs whose
lease ran out (their worker vanished), re-sends jobs whose message was lost (a broker restart
without persistence), and delivers webhooks.
"""

from __future__ import annotations

import datetime as dt
import logging
import queue
import threading
import time
from typing import Any

from celery import Celery, Task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import and_, or_, select, update

from api.records import Job, JobStatus, utcnow
from preflight.settings import Settings
from worker.tasks import TRANSIENT_RETRY_S, TransientError, WorkerContext, process_job
from worker.webhooks import deliver_due

__all__ = [
    "PROCESS_JOB",
    "CeleryDispatcher",
    "Maintenance",
    "check_reliability",
    "make_celery",
]

log = logging.getLogger("preflight.worker")
PROCESS_JOB = "preflight.process_job"
HARD_LIMIT_MARGIN_S = 30.0
# A queued job whose message is nowhere (the queue is empty and no worker holds it) for this
# long is sent again.
LOST_MESSAGE_AFTER_S = 20.0
MAINTENANCE_EVERY_S = 2.0
UNSENT_GRACE_S = 5.0


class ReliabilityError(RuntimeError):
    """The queue settings would lose or duplicate jobs; refuse to start."""


def _limits(settings: Settings) -> tuple[float, float, float]:
    soft = settings.job_deadline_s + 5
    hard = soft + HARD_LIMIT_MARGIN_S
    visibility = hard + max(TRANSIENT_RETRY_S) + 2 * settings.lease_s + 60
    return soft, hard, visibility


def check_reliability(conf: Any) -> None:
    """Refuse settings under which a healthy job could be handed to a second worker."""
    visibility = float(conf.broker_transport_options.get("visibility_timeout", 3600))
    hard = float(conf.task_time_limit or 0)
    if not hard:
        raise ReliabilityError("task_time_limit (the hard limit) must be set")
    if visibility <= hard + max(TRANSIENT_RETRY_S):
        raise ReliabilityError(
            f"the broker's visibility timeout ({visibility:.0f} s) must be longer than the "
            f"hard time limit ({hard:.0f} s) plus the longest retry delay "
            f"({max(TRANSIENT_RETRY_S):.0f} s), or running jobs would be delivered twice"
        )


def make_celery(settings: Settings) -> Celery:
    """The Celery app for ``settings`` (broker, queue, limits, reliability)."""
    if settings.broker_url is None:
        raise ReliabilityError("PREFLIGHT_BROKER_URL is not set: use `preflight serve` alone")
    soft, hard, visibility = _limits(settings)
    app = Celery("preflight", broker=settings.broker_url, set_as_current=False)
    redelivery = settings.queue_redelivery
    app.conf.update(
        task_acks_late=redelivery,
        task_reject_on_worker_lost=redelivery,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_soft_time_limit=soft,
        task_time_limit=hard,
        broker_transport_options={
            "visibility_timeout": visibility,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for the broker to come back
        worker_max_memory_per_child=settings.worker_max_memory_mb * 1024,  # in KiB
        task_default_queue=settings.queue_name,
        task_ignore_result=True,  # results live in the job records
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    check_reliability(app.conf)
    context = WorkerContext(settings)

    @app.task(name=PROCESS_JOB, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def process(self: Task, job_id: str) -> str:
        """A job id in; the library does the work (see worker.tasks)."""
        try:
            outcome = process_job(
                context,
                job_id,
                f"celery:{self.request.hostname}",
                deadline_errors=(SoftTimeLimitExceeded,),
            )
        except TransientError as exc:
            retries = int(self.request.retries)
            if retries >= len(TRANSIENT_RETRY_S):
                log.warning("job %s: giving the job back after %d retries", job_id, retries)
                return "released"  # queued again in the records; maintenance re-sends it
            raise self.retry(exc=exc, countdown=TRANSIENT_RETRY_S[retries]) from exc
        if outcome.retry_after_s is not None:
            # Held by another live worker, or waiting out a backoff: look again later. The
            # countdown is bounded by the lease, so a vanished holder is noticed.
            raise self.retry(countdown=min(outcome.retry_after_s, settings.lease_s))
        return outcome.status

    app.conf.preflight_context = context
    return app


class CeleryDispatcher:
    """Sends job ids to the broker, off the request path.

    The API records a job first and answers at once; a background thread sends the id.
    When the broker is down a send can take seconds (the Redis client retries), so a failed
    send pauses sending for a few seconds and leaves ``dispatched_at`` unset: the workers'
    :class:`Maintenance` sends such jobs when the broker is back. Nothing is lost either way.
    """

    kind = "celery"
    PAUSE_AFTER_FAILURE_S = 5.0

    def __init__(self, app: Celery, settings: Settings, context: WorkerContext) -> None:
        self.app = app
        self.settings = settings
        self.context = context
        self._pending: queue.Queue[str] = queue.Queue(maxsize=10_000)
        self._paused_until = 0.0
        self._sender: threading.Thread | None = None
        self._lock = threading.Lock()

    def dispatch(self, job_id: str) -> None:
        """Queue the id for sending (never blocks the caller)."""
        with self._lock:
            if self._sender is None or not self._sender.is_alive():
                self._sender = threading.Thread(
                    target=self._send_forever, name="preflight-dispatch", daemon=True
                )
                self._sender.start()
        try:
            self._pending.put_nowait(job_id)
        except queue.Full:
            log.warning("job %s recorded; the send queue is full, it will be sent later", job_id)

    def _send_forever(self) -> None:
        while True:
            job_id = self._pending.get()
            if time.monotonic() < self._paused_until:
                continue  # the broker failed a moment ago: Maintenance will send it
            if not self.send_now(job_id):
                self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S

    def send_now(self, job_id: str) -> bool:
        """Send one id and mark the job sent; ``False`` if the broker refused."""
        try:
            self.app.send_task(
                PROCESS_JOB, args=[job_id], queue=self.settings.queue_name, retry=False
            )
        except Exception as exc:  # kombu raises many kinds: any failure means "not sent"
            log.warning("job %s recorded but not sent (%s); it will be sent later", job_id, exc)
            return False
        with self.context.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job_id, Job.dispatched_at.is_(None))
                .values(dispatched_at=utcnow())
                .execution_options(synchronize_session=False)
            )
        return True

    def ping(self) -> None:
        """Raise unless the broker answers within 2 s."""
        outcome: list[BaseException | None] = []

        def probe() -> None:
            try:
                with self.app.connection_for_write() as connection:
                    connection.ensure_connection(max_retries=1, timeout=2)
                outcome.append(None)
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=probe, daemon=True)
        thread.start()
        thread.join(timeout=2.5)
        if not outcome:
            raise TimeoutError("the broker did not answer within 2 s")
        if outcome[0] is not None:
            raise outcome[0]

    def queue_length(self) -> int:
        """Messages waiting in the job queue. Declared the way Celery declares it (not a
        passive check): after a broker restart without persistence the queue does not exist
        until something declares it, and "missing" means "empty"."""
        definition = self.app.amqp.queues[self.settings.queue_name]
        with self.app.connection_for_read() as connection:
            declared = definition(connection.default_channel).queue_declare()
            return int(declared.message_count)


class Maintenance:
    """The loop around the queue, one per worker main process (several are safe: every change
    is a conditional update, and a job sent twice runs once)."""

    def __init__(self, dispatcher: CeleryDispatcher) -> None:
        self.dispatcher = dispatcher
        self.context = dispatcher.context
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name="preflight-maintenance", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=10)

    def _run(self) -> None:
        while not self.stop.wait(MAINTENANCE_EVERY_S):
            try:
                self.tick()
            except Exception as exc:  # the broker or the database is away: next round
                log.warning(
                    "maintenance round failed (%s: %s); will try again", type(exc).__name__, exc
                )

    def tick(self) -> None:
        """One round: outbox, vanished workers, lost messages, webhooks."""
        for job_id in self._unsent():
            if not self.dispatcher.send_now(job_id):
                return  # the broker is down: try the whole round again later
        if self.context.settings.queue_redelivery:
            self._requeue_vanished()
            self._resend_lost()
        deliver_due(self.context)

    def _unsent(self) -> list[str]:
        with self.context.db.session() as session:
            return list(
                session.scalars(
                    select(Job.id)
                    .where(
                        Job.status == JobStatus.QUEUED,
                        Job.dispatched_at.is_(None),
                        # younger ones are still on their way from the API's own sender
                        Job.created_at <= utcnow() - dt.timedelta(seconds=UNSENT_GRACE_S),
                    )
                    .order_by(Job.created_at)
                    .limit(200)
                )
            )

    def _requeue_vanished(self) -> None:
        # A running job whose lease ran out: its worker died without a word. Give it back.
        now = utcnow()
        with self.context.db.session() as session:
            vanished = session.scalars(
                select(Job.id).where(Job.status == JobStatus.RUNNING, Job.lease_until <= now)
            ).all()
            for job_id in vanished:
                session.execute(
                    update(Job)
                    .where(
                        Job.id == job_id, Job.status == JobStatus.RUNNING, Job.lease_until <= now
                    )
                    .values(status=JobStatus.QUEUED, dispatched_at=None, lease_owner=None)
                    .execution_options(synchronize_session=False)
                )
        for job_id in vanished:
            log.warning("job %s: its worker vanished (lease ran out); requeued", job_id)

    def _resend_lost(self) -> None:
        # Queued jobs sent long ago while the queue is empty: their message is gone (a broker
        # restarted without persistence, or it sits un-acknowledged with a dead worker until
        # the visibility timeout). Send them again; a duplicate message is harmless.
        cutoff = utcnow() - dt.timedelta(seconds=LOST_MESSAGE_AFTER_S)
        with self.context.db.session() as session:
            stale = session.scalars(
                select(Job.id)
                .where(
                    Job.status == JobStatus.QUEUED,
                    Job.dispatched_at <= cutoff,
                    or_(Job.lease_until.is_(None), Job.lease_until <= utcnow()),
                )
                .limit(200)
            ).all()
        if not stale or self.dispatcher.queue_length() > 0:
            return
        for job_id in stale:
            with self.context.db.session() as session:
                session.execute(
                    update(Job)
                    .where(and_(Job.id == job_id, Job.dispatched_at <= cutoff))
                    .values(dispatched_at=None)
                    .execution_options(synchronize_session=False)
                )
            if not self.dispatcher.send_now(job_id):
                return


_MAINTENANCE: dict[str, Maintenance] = {}


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_maintenance(sender: Any = None, **_: Any) -> None:
    app = sender.app if sender is not None else None
    if app is None or not hasattr(app.conf, "preflight_context"):
        return
    context: WorkerContext = app.conf.preflight_context
    # The database engine (and the driver's import) is made here, on the thread that forks
    # the pool's children, not on the maintenance thread: a child forked while another
    # thread is half-way through such work inherits its locks held, and hangs on them.
    context.db  # noqa: B018 (made for its side effect)
    maintenance = Maintenance(CeleryDispatcher(app, context.settings, context))
    _MAINTENANCE[app.main or "preflight"] = maintenance
    maintenance.start()


@worker_shutdown.connect  # type: ignore[untyped-decorator]
def _stop_maintenance(**_: Any) -> None:
    for maintenance in _MAINTENANCE.values():
        maintenance.close()
    _MAINTENANCE.clear()
