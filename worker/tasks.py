"""The job task, thin and idempotent: a job id in; load inputs, call the library, store the
outputs under keys derived from the job id, record the result, queue the webhook.

Running the same job twice (a re-delivered message, a requeued lease) writes the same keys
with the same bytes, and only the first finish is recorded: the finish is a conditional
update on the job still being ours and running, and the webhook row is unique per job.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError

from api.db import Database
from api.records import Artwork, Job, JobEvent, JobStatus, WebhookDelivery, utcnow
from api.storage import Storage
from preflight.checks import CheckConfig
from preflight.color import ColorSettings, ProfileLibrary, RenderingIntent
from preflight.errors import PreflightError
from preflight.geometry import Placement
from preflight.job import JobRequest, run_job
from preflight.loading import LoadLimits
from preflight.settings import Settings
from preflight.templates import Catalog, load_catalog

__all__ = [
    "MAX_ATTEMPTS",
    "TransientError",
    "WorkerContext",
    "claim_next",
    "process_job",
]

log = logging.getLogger("preflight.worker")

# A job whose worker died this many times is failed instead of tried again: a file that kills
# the process every time must not loop forever and starve the jobs behind it.
MAX_ATTEMPTS = 3
# How long a claimed job belongs to its worker before another may take it over. Longer than
# the job deadline, so a slow but healthy job is never run twice.
LEASE_MARGIN_S = 30.0
# Waits before retrying after a transient (storage or database) error.
TRANSIENT_RETRY_S = (2.0, 10.0, 30.0)


class TransientError(Exception):
    """Storage or database trouble: try the job again later; the artwork is not at fault."""


@dataclass
class WorkerContext:
    settings: Settings

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.effective_database_url)

    @cached_property
    def storage(self) -> Storage:
        return Storage(self.settings.effective_storage_dir)

    @cached_property
    def catalog(self) -> Catalog:
        return load_catalog(self.settings.templates_dir)

    @cached_property
    def profiles(self) -> ProfileLibrary:
        extra = [self.settings.profiles_dir] if self.settings.profiles_dir else []
        return ProfileLibrary(extra)

    def close(self) -> None:
        """Close the database connections (only if they were opened)."""
        if "db" in self.__dict__:
            self.db.dispose()

    @property
    def lease(self) -> dt.timedelta:
        return dt.timedelta(seconds=self.settings.job_deadline_s + LEASE_MARGIN_S)


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


def _claim(ctx: WorkerContext, job_id: str, worker: str) -> Job | None:
    now = utcnow()
    with ctx.db.session() as session:
        claimed = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                or_(
                    Job.status == JobStatus.QUEUED,
                    and_(Job.status == JobStatus.RUNNING, Job.lease_until <= now),
                ),
            )
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                lease_until=now + ctx.lease,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # done, failed, or running under a live lease elsewhere
        job = session.get(Job, job_id, populate_existing=True)
        assert job is not None
        session.add(
            JobEvent(
                job_id=job_id, action="started", actor=worker, detail={"attempt": job.attempts}
            )
        )
        return job


def process_job(ctx: WorkerContext, job_id: str, worker: str = "worker") -> str:
    """Run one job if it can be claimed; returns its status afterwards."""
    try:
        job = _claim(ctx, job_id, worker)
    except OperationalError as exc:
        raise TransientError(f"database unavailable: {exc}") from exc
    if job is None:
        with ctx.db.session() as session:
            current = session.get(Job, job_id)
        return current.status if current else "missing"
    if job.attempts > MAX_ATTEMPTS:
        _finish(
            ctx,
            job,
            worker,
            error=(
                "worker-crashed",
                f"the worker stopped while processing this artwork {MAX_ATTEMPTS} times; the "
                "file may be damaged in a way that crashes the decoder. Export it again.",
            ),
        )
        return JobStatus.FAILED
    try:
        files, report = _run(ctx, job)
    except PreflightError as exc:  # the artwork or the request is at fault: no retry
        _finish(ctx, job, worker, error=(exc.code, exc.message))
        return JobStatus.FAILED
    except (OSError, OperationalError) as exc:
        _release(ctx, job, worker, exc)
        raise TransientError(str(exc)) from exc
    try:
        outputs = _store(ctx, job, files, report)
    except OSError as exc:
        _release(ctx, job, worker, exc)
        raise TransientError(str(exc)) from exc
    _finish(ctx, job, worker, report=report, outputs=outputs)
    return JobStatus.DONE


def _run(ctx: WorkerContext, job: Job) -> tuple[dict[str, bytes], dict[str, Any]]:
    with ctx.db.session() as session:
        artwork = session.get(Artwork, job.artwork_id)
    if artwork is None:
        raise OSError(f"artwork record {job.artwork_id} is missing")
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
    )
    result = run_job(request, ctx.profiles)
    return result.files, result.report


def _store(
    ctx: WorkerContext, job: Job, files: dict[str, bytes], report: dict[str, Any]
) -> dict[str, Any]:
    import hashlib

    everything = {**files, "report.json": json.dumps(report, indent=2).encode()}
    outputs: dict[str, Any] = {}
    for name, data in everything.items():
        key = f"jobs/{job.id}/{name}"  # the same job always writes the same keys
        ctx.storage.put(key, data)
        outputs[name] = {
            "key": key,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }
    return outputs


def _release(ctx: WorkerContext, job: Job, worker: str, exc: BaseException) -> None:
    """Give a job back after a transient error, to be tried again after a pause."""
    delay = TRANSIENT_RETRY_S[min(job.attempts, len(TRANSIENT_RETRY_S)) - 1]
    log.warning("job %s: transient error, retrying in %.0f s: %s", job.id, delay, exc)
    try:
        with ctx.db.session() as session:
            session.execute(
                update(Job)
                .where(Job.id == job.id, Job.status == JobStatus.RUNNING)
                .values(
                    status=JobStatus.QUEUED,
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
    values: dict[str, Any] = {"finished_at": now, "lease_until": None}
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
            .where(Job.id == job.id, Job.status == JobStatus.RUNNING)
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
