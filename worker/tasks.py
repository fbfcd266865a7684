"""The job task, thin and idempotent: a job id in; load inputs, call the library, store the
outputs under keys derived from the job id, record the result, queue the webhook.

Running the same job twice (a re-delivered message, a requeued lease) writes the same keys
with the same bytes, and only the first finish is recorded: the finish is a conditional
update on the job still being ours and running, and the webhook row is unique per job.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError

from api.db import Database
from api.records import Artwork, Job, JobEvent, JobStatus, WebhookDelivery, utcnow
from api.storage import Storage
from preflight.checks import CheckConfig
from preflight.color import ColorSettings, ConversionTables, ProfileLibrary, RenderingIntent
from preflight.errors import PreflightError
from preflight.geometry import Placement
from preflight.job import JobRequest, run_job
from preflight.loading import LoadLimits
from preflight.settings import Settings
from preflight.templates import Catalog, load_catalog

__all__ = [
    "MAX_ATTEMPTS",
    "TRANSIENT_RETRY_S",
    "Outcome",
    "TransientError",
    "WorkerContext",
    "claim_next",
    "process_job",
    "process_owner",
]

log = logging.getLogger("preflight.worker")

# A job whose worker died this many times is failed instead of tried again: a file that kills
# the process every time must not loop forever and starve the jobs behind it.
MAX_ATTEMPTS = 3
# Waits before retrying after a transient (storage or database) error.
TRANSIENT_RETRY_S = (2.0, 10.0, 30.0)


class TransientError(Exception):
    """Storage or database trouble: try the job again later; the artwork is not at fault."""


@dataclass(frozen=True)
class Outcome:
    """What became of a job id handed to :func:`process_job`.

    ``status`` is the job's status afterwards; ``retry_after_s`` is set when another live
    worker holds the job (or it waits out a transient error): ask again after that long.
    """

    status: str
    retry_after_s: float | None = None


_Value = TypeVar("_Value")


class MadeOnce(Generic[_Value]):
    """An attribute computed on first use and kept in the instance, like
    ``functools.cached_property`` but without its lock.

    Why not ``cached_property``: on Python 3.11 it computes under one lock shared by every
    instance, and a Celery worker's main process forks replacement pool children at any moment,
    while its maintenance thread may be inside such a computation (opening the database takes
    a few hundred ms on a busy machine). The child inherits the lock held by a thread that does
    not exist in it and waits on it forever: both replacement children of a worker whose
    children had been killed hung that way, holding their jobs until the hard time limit.
    Without a lock, two threads that race compute twice and the first value stored is the one
    both keep (a spare engine or catalogue is dropped unused).
    """

    def __init__(self, make: Callable[[Any], _Value]) -> None:
        self.make = make
        self.name = make.__name__
        self.__doc__ = make.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> MadeOnce[_Value]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _Value: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> Any:
        if instance is None:
            return self
        kept = instance.__dict__
        if self.name not in kept:
            value = self.make(instance)
            return kept.setdefault(self.name, value)
        return kept[self.name]


@dataclass
class WorkerContext:
    settings: Settings

    @MadeOnce
    def db(self) -> Database:
        return Database(self.settings.effective_database_url)

    @MadeOnce
    def storage(self) -> Storage:
        return Storage(self.settings.effective_storage_dir)

    @MadeOnce
    def catalog(self) -> Catalog:
        return load_catalog(self.settings.templates_dir)

    @MadeOnce
    def profiles(self) -> ProfileLibrary:
        extra = [self.settings.profiles_dir] if self.settings.profiles_dir else []
        return ProfileLibrary(extra)

    @MadeOnce
    def tables(self) -> ConversionTables | None:
        """Exact conversion tables, one file per conversion shared by every worker process.

        The default conversion's table is mapped (or built, once per machine) with the first
        job; other conversions get one when they come back (a table costs ~1 s to build).
        """
        settings = self.settings
        if not settings.conversion_tables:
            return None
        tables = ConversionTables(settings.effective_tables_dir, build_after_uses=2)
        default = ColorSettings(output_profile=settings.output_profile, intent=settings.intent)
        tables.prepare(None, self.profiles.get(default.output_profile), default)
        return tables

    def close(self) -> None:
        """Close the database connections (only if they were opened)."""
        if "db" in self.__dict__:
            self.db.dispose()

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.lease_s)


def process_owner() -> str:
    """This process, as a lease owner: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_is_dead(owner: str | None) -> bool:
    """Whether a lease owner on *this* host is gone (a killed worker child). Owners on other
    hosts cannot be checked: their leases simply run out."""
    if not owner or ":" not in owner:
        return False
    host, pid = owner.rsplit(":", 1)
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    try:  # a zombie (killed, not yet reaped by its parent) is dead too
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][:1] == "Z"
    except (OSError, IndexError):
        return False


def claim_next(ctx: WorkerContext) -> str | None:
    """The id of a job that is queued (and due), or whose lease ran out, or ``None``."""
    now = utcnow()
    with ctx.db.session() as session:
        return session.scalar(
            select(Job.id)
            .where(
                or_(
                    and_(
                        Job.status == JobStatus.QUEUED,
                        or_(Job.lease_until.is_(None), Job.lease_until <= now),
                    ),
                    and_(Job.status == JobStatus.RUNNING, Job.lease_until <= now),
                )
            )
            .order_by(Job.created_at)
            .limit(1)
        )


def _claim(ctx: WorkerContext, job_id: str, worker: str) -> Job | Outcome:
    """Take the job (counting an attempt), or say why not and when to ask again."""
    now = utcnow()
    owner = process_owner()
    with ctx.db.session() as session:
        current = session.get(Job, job_id)
        if current is None:
            return Outcome("missing")
        if current.status in JobStatus.FINISHED:
            return Outcome(current.status)
        held = current.lease_until is not None and current.lease_until > now
        takeover = (
            current.status == JobStatus.RUNNING and held and _owner_is_dead(current.lease_owner)
        )
        if held and not takeover:  # running elsewhere, or waiting out a transient error
            assert current.lease_until is not None
            wait = (current.lease_until - now).total_seconds()
            return Outcome(current.status, retry_after_s=max(1.0, wait))
        if current.attempts >= MAX_ATTEMPTS:
            # Every attempt so far ended with its worker dead (running with a dead or expired
            # holder, or requeued by maintenance after it vanished; transient errors give
            # their attempt back): the file is the likely cause.
            failed = session.execute(
                update(Job)
                .where(
                    Job.id == job_id,
                    Job.status == current.status,
                    Job.attempts == current.attempts,
                )
                .values(
                    status=JobStatus.FAILED,
                    error_code="worker-crashed",
                    error_message=(
                        f"the worker stopped while processing this artwork {current.attempts} "
                        "times; the file may be damaged in a way that crashes the decoder. "
                        "Export it again."
                    ),
                    finished_at=now,
                    lease_until=None,
                    lease_owner=None,
                )
                .execution_options(synchronize_session=False)
            )
            if failed.rowcount == 1:  # type: ignore[attr-defined]
                session.add(
                    JobEvent(
                        job_id=job_id,
                        action="failed",
                        actor=worker,
                        detail={"code": "worker-crashed", "attempts": current.attempts},
                    )
                )
                if current.callback_url:
                    session.add(
                        WebhookDelivery(
                            job_id=job_id, event="job.finished", url=current.callback_url
                        )
                    )
            return Outcome(JobStatus.FAILED)
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == current.status,
                Job.attempts == current.attempts,  # nobody claimed it since we looked
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                lease_until=now + ctx.lease,
                lease_owner=owner,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return Outcome(JobStatus.RUNNING, retry_after_s=ctx.settings.lease_s)
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        detail: dict[str, Any] = {"attempt": job.attempts}
        if takeover:
            detail["took_over_from"] = current.lease_owner
        session.add(JobEvent(job_id=job_id, action="started", actor=worker, detail=detail))
        return job


@contextmanager
def _heartbeat(ctx: WorkerContext, job_id: str) -> Iterator[None]:
    """Renew the job's lease every third of its length while the job runs: a lease that runs
    out means the worker is gone (killed, frozen, its machine down)."""
    stop = threading.Event()
    owner = process_owner()

    def beat() -> None:
        while not stop.wait(ctx.settings.lease_s / 3):
            try:
                with ctx.db.session() as session:
                    session.execute(
                        update(Job)
                        .where(
                            Job.id == job_id,
                            Job.status == JobStatus.RUNNING,
                            Job.lease_owner == owner,
                        )
                        .values(lease_until=utcnow() + ctx.lease)
                        .execution_options(synchronize_session=False)
                    )
            except OperationalError:
                log.warning("job %s: could not renew the lease; will try again", job_id)

    thread = threading.Thread(target=beat, name=f"lease-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def process_job(
    ctx: WorkerContext,
    job_id: str,
    worker: str = "worker",
    deadline_errors: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Run one job if it can be claimed.

    Bad artwork fails the job (no retry); storage or database trouble raises
    :class:`TransientError` after giving the job back; ``deadline_errors`` (the queue's soft
    time limit) fail it as ``deadline-exceeded``; anything else fails it as ``internal-error``.
    """
    try:
        claimed = _claim(ctx, job_id, worker)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {exc}") from exc
    if isinstance(claimed, Outcome):
        return claimed
    job = claimed
    try:
        with _heartbeat(ctx, job.id):
            files, report = _run(ctx, job)
            outputs = _store(ctx, job, files, report)
    except PreflightError as exc:  # the artwork or the request is at fault: no retry
        _finish(ctx, job, worker, error=(exc.code, exc.message))
        return Outcome(JobStatus.FAILED)
    except (OSError, OperationalError) as exc:
        _release(ctx, job, worker, exc)
        raise TransientError(str(exc)) from exc
    except deadline_errors:
        _finish(
            ctx,
            job,
            worker,
            error=(
                "deadline-exceeded",
                f"the job took longer than its {ctx.settings.job_deadline_s:.0f} s deadline",
            ),
        )
        return Outcome(JobStatus.FAILED)
    except Exception as exc:  # a bug: fail this job with a clear code, keep the worker going
        log.exception("job %s: unexpected error", job.id)
        _finish(
            ctx,
            job,
            worker,
            error=("internal-error", f"an unexpected error stopped the job ({type(exc).__name__})"),
        )
        return Outcome(JobStatus.FAILED)
    _finish(ctx, job, worker, report=report, outputs=outputs)
    return Outcome(JobStatus.DONE)


def _run(ctx: WorkerContext, job: Job) -> tuple[dict[str, bytes], dict[str, Any]]:
    with ctx.db.session() as session:
        artwork = session.get(Artwork, job.artwork_id)
    if artwork is None:
        raise OSError(f"artwork record {job.artwork_id} is missing")
    if ctx.settings.fault_crash_sha256 and artwork.sha256 == ctx.settings.fault_crash_sha256:
        os._exit(70)  # testing only (see Settings.fault_crash_sha256): a decoder crash
    data = ctx.storage.read(artwork.storage_key)
    template = ctx.catalog.get(job.template_id)
    placement = job.request.get("placement", {})
    options = job.request.get("options", {})
    settings = ctx.settings
    color = ColorSettings(
        output_profile=options.get("output_profile", settings.output_profile),
        intent=RenderingIntent(options.get("intent", settings.intent.value)),
        black_point_compensation=options.get("black_point_compensation", True),
    )
    request = JobRequest(
        template=template,
        placement=Placement.parse(**placement),
        color=color,
        checks=CheckConfig(other_templates=tuple(t for t in ctx.catalog if t.id != template.id)),
        limits=LoadLimits(settings.max_file_bytes, settings.max_pixels),
        artwork_bytes=data,
        artwork_name=artwork.file_name,
        deadline_s=settings.job_deadline_s,
        threads=settings.job_threads,
    )
    result = run_job(request, ctx.profiles, ctx.tables)
    return result.files, result.report


def _store(
    ctx: WorkerContext, job: Job, files: dict[str, bytes], report: dict[str, Any]
) -> dict[str, Any]:
    report_json = json.dumps(report, indent=2).encode()
    # The report already lists each file's size and SHA-256: only report.json is hashed here.
    facts = {
        **report["outputs"],
        "report.json": {
            "bytes": len(report_json),
            "sha256": hashlib.sha256(report_json).hexdigest(),
        },
    }
    outputs: dict[str, Any] = {}
    for name, data in {**files, "report.json": report_json}.items():
        key = f"jobs/{job.id}/{name}"  # the same job always writes the same keys
        ctx.storage.put(key, data)
        outputs[name] = {"key": key, **facts[name]}
    return outputs


def _release(ctx: WorkerContext, job: Job, worker: str, exc: BaseException) -> None:
    """Give a job back after a transient error, to be tried again after a pause."""
    delay = TRANSIENT_RETRY_S[min(job.attempts, len(TRANSIENT_RETRY_S)) - 1]
    log.warning("job %s: transient error, retrying in %.0f s: %s", job.id, delay, exc)
    try:
        with ctx.db.session() as session:
            session.execute(
                update(Job)
                .where(
                    Job.id == job.id,
                    Job.status == JobStatus.RUNNING,
                    Job.attempts == job.attempts,
                )
                .values(
                    status=JobStatus.QUEUED,
                    lease_owner=None,
                    lease_until=utcnow() + dt.timedelta(seconds=delay),
                    attempts=Job.attempts - 1,  # not the artwork's fault: no attempt spent
                )
            )
            session.add(
                JobEvent(job_id=job.id, action="retrying", actor=worker, detail={"error": str(exc)})
            )
    except OperationalError:
        pass  # the lease runs out by itself and the job is taken up again


def _finish(
    ctx: WorkerContext,
    job: Job,
    worker: str,
    *,
    report: dict[str, Any] | None = None,
    outputs: dict[str, Any] | None = None,
    error: tuple[str, str] | None = None,
) -> None:
    now = utcnow()
    values: dict[str, Any] = {"finished_at": now, "lease_until": None, "lease_owner": None}
    if error is None:
        assert report is not None
        values.update(
            status=JobStatus.DONE,
            verdict=report["status"],
            report=report,
            outputs=outputs or {},
        )
    else:
        values.update(status=JobStatus.FAILED, error_code=error[0], error_message=error[1])
    with ctx.db.session() as session:
        finished = session.execute(
            update(Job)
            .where(
                Job.id == job.id,
                Job.status == JobStatus.RUNNING,
                Job.attempts == job.attempts,  # still our attempt: not taken over meanwhile
            )
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if finished.rowcount != 1:  # type: ignore[attr-defined]
            return  # someone else finished it (a lease taken over): theirs is the record
        session.add(
            JobEvent(
                job_id=job.id,
                action="finished" if error is None else "failed",
                actor=worker,
                detail={"verdict": values.get("verdict")} if error is None else {"code": error[0]},
            )
        )
        if job.callback_url:
            session.add(WebhookDelivery(job_id=job.id, event="job.finished", url=job.callback_url))
