"""What the routes do, without HTTP: store artworks, submit and list jobs, decide, batch.

Every read goes through :func:`visible_job` / :func:`visible_artwork`, which answer 404 for
another tenant's ids. Writes that can race (the same upload twice, the same Idempotency-Key
twenty times at once) rely on the database's unique constraints, not on luck: the loser of a
race reads the winner's row.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal, ensure_partner
from api.db import Database
from api.errors import BadRequest, Conflict, Forbidden, IdempotencyConflict, NotFinished, NotFound
from api.records import Artwork, IdempotencyRecord, Job, JobEvent, JobStatus, new_id, utcnow
from api.schemas import JobIn
from api.storage import Storage
from api.uploads import Upload
from preflight.color import ProfileLibrary
from preflight.geometry import Placement
from preflight.loading import LoadLimits, inspect_artwork_bytes
from preflight.settings import Settings
from preflight.templates import Catalog, Template

__all__ = [
    "PRINT_FILES",
    "RESULT_FILES",
    "Dispatcher",
    "Service",
    "job_document",
]

# Result names in the API → stored output file names.
RESULT_FILES = {
    "report": "report.json",
    "proof": "proof.png",
    "proof.jpg": "proof.jpg",
    "proof-thumbnail": "proof-thumbnail.png",
    "proof-thumbnail.jpg": "proof-thumbnail.jpg",
    "overlay": "overlay.png",
    "color-shift": "color-shift.png",
    "print-file": "print.tif",
    "white-mask": "white.tif",
}
PRINT_FILES = ("print.tif", "white.tif")  # production staff only
_MAX_PAGE = 200


class Dispatcher(Protocol):
    """Hands a recorded job to the workers. ``dispatch`` must never lose the job: a job whose
    dispatch failed stays queued with ``dispatched_at`` unset, for the relay to send again."""

    kind: str

    def dispatch(self, job_id: str) -> None: ...

    def ping(self) -> None: ...


@dataclass
class Service:
    settings: Settings
    db: Database
    storage: Storage
    catalog: Catalog
    profiles: ProfileLibrary
    dispatcher: Dispatcher

    # --- artworks ------------------------------------------------------------------------

    def store_artwork(self, principal: Principal, upload: Upload) -> tuple[Artwork, bool]:
        """Validate the uploaded file's header and store it once per partner and content.
        Returns the artwork and whether it is new."""
        assert upload.path is not None
        try:
            partner = principal.partner_for_submission(upload.fields.get("partner") or None)
            template_id = upload.fields.get("template_id") or None
            if template_id:
                self.catalog.get(template_id)  # unknown template: 404 before storing anything
            limits = LoadLimits(self.settings.max_file_bytes, self.settings.max_pixels)
            summary = inspect_artwork_bytes(upload.path.read_bytes(), upload.file_name, limits)
            with self.db.session() as session:
                ensure_partner(session, partner)
                existing = self._artwork_by_content(session, partner, upload.sha256)
            if existing is not None:
                return existing, False
            key = f"artworks/{upload.sha256[:2]}/{upload.sha256}"
            if not self.storage.exists(key):  # the same bytes from another partner: one copy
                self.storage.adopt(key, upload.path)
        finally:
            upload.path.unlink(missing_ok=True)
        artwork = Artwork(
            id=new_id("art"),
            partner=partner,
            sha256=upload.sha256,
            file_name=upload.file_name,
            bytes=upload.bytes,
            format=summary.format,
            width_px=summary.width_px,
            height_px=summary.height_px,
            mode=summary.mode,
            summary=summary.to_dict(),
            storage_key=key,
        )
        try:
            with self.db.session() as session:
                session.add(artwork)
        except IntegrityError:  # the same file uploaded twice at once: the other one won
            with self.db.session() as session:
                winner = self._artwork_by_content(session, partner, upload.sha256)
            if winner is None:
                raise
            return winner, False
        return artwork, True

    @staticmethod
    def _artwork_by_content(session: Session, partner: str, sha256: str) -> Artwork | None:
        return session.scalar(
            select(Artwork).where(Artwork.partner == partner, Artwork.sha256 == sha256)
        )

    def visible_artwork(self, principal: Principal, artwork_id: str) -> Artwork:
        with self.db.session() as session:
            artwork = session.get(Artwork, artwork_id)
        if artwork is None or not principal.can_see_partner(artwork.partner):
            raise NotFound(f"no artwork {artwork_id!r}")
        return artwork

    def quick_facts(self, artwork: Artwork, template_id: str) -> dict[str, Any]:
        template = self.catalog.get(template_id)
        need = template.min_artwork_px
        landscape = artwork.width_px > artwork.height_px
        short, long_ = sorted((artwork.width_px, artwork.height_px))
        need_short, need_long = sorted((need.width, need.height))
        meets = short >= need_short and long_ >= need_long
        message = (
            f"{artwork.width_px}×{artwork.height_px} px meets the {need.width}×{need.height} px "
            f"minimum for {template.name}."
            if meets
            else f"Low resolution: {artwork.width_px}×{artwork.height_px} px is below the "
            f"{need.width}×{need.height} px minimum for {template.name}; it will print "
            "blurred. Upload a larger original."
        )
        if landscape and template.is_portrait:
            message += " The file is landscape and the case portrait: check the rotation."
        return {
            "template_id": template.id,
            "min_artwork_px": {"width": need.width, "height": need.height},
            "meets_minimum": meets,
            "message": message,
        }

    # --- jobs ----------------------------------------------------------------------------

    def _template_for(self, body: JobIn) -> Template:
        if (body.template_id is None) == (body.sku is None):
            raise BadRequest("give exactly one of template_id and sku", {"field": "template_id"})
        if body.sku is not None:
            return self.catalog.by_sku(body.sku)
        assert body.template_id is not None
        return self.catalog.get(body.template_id)

    def submit_job(
        self, principal: Principal, body: JobIn, idempotency_key: str | None
    ) -> tuple[Job, bool]:
        """Record a job (and dispatch it). With an Idempotency-Key the same key and body give
        the same job; the same key with another body is refused."""
        partner = principal.partner_for_submission(body.partner)
        template = self._template_for(body)
        placement = body.placement
        Placement.parse(  # the library's own validation, for its messages
            fit=placement.fit,
            rotate_deg=placement.rotate_deg,
            scale=placement.scale,
            center=placement.center,
        )
        if body.options.output_profile is not None:
            self.profiles.get(body.options.output_profile)
        if idempotency_key is not None and not 1 <= len(idempotency_key) <= 255:
            raise BadRequest("an Idempotency-Key is 1-255 characters")
        request_doc = {
            "placement": placement.model_dump(mode="json"),
            "options": body.options.model_dump(mode="json", exclude_none=True),
        }
        callback = str(body.callback_url) if body.callback_url else None
        fingerprint = hashlib.sha256(
            json.dumps(
                {
                    "artwork_id": body.artwork_id,
                    "template_id": template.id,
                    "sku": body.sku,
                    "request": request_doc,
                    "callback_url": callback,
                },
                sort_keys=True,
            ).encode()
        ).hexdigest()
        with self.db.session() as session:
            artwork = session.get(Artwork, body.artwork_id)
            if artwork is None or artwork.partner != partner:
                raise NotFound(f"no artwork {body.artwork_id!r} for partner {partner!r}")
            if idempotency_key is not None:
                earlier = self._replay(session, partner, idempotency_key, fingerprint)
                if earlier is not None:
                    return earlier, False
        job = Job(
            id=new_id("job"),
            partner=partner,
            artwork_id=body.artwork_id,
            template_id=template.id,
            sku=body.sku,
            request=request_doc,
            callback_url=callback,
        )
        try:
            with self.db.session() as session:
                session.add(job)
                session.flush()
                if idempotency_key is not None:
                    session.add(
                        IdempotencyRecord(
                            partner=partner,
                            key=idempotency_key,
                            request_sha256=fingerprint,
                            job_id=job.id,
                        )
                    )
                session.add(JobEvent(job_id=job.id, action="created", actor=principal.actor))
        except IntegrityError:
            if idempotency_key is None:
                raise
            with self.db.session() as session:  # a concurrent twin created it first
                earlier = self._replay(session, partner, idempotency_key, fingerprint)
            if earlier is None:
                raise
            return earlier, False
        self.dispatcher.dispatch(job.id)
        return job, True

    @staticmethod
    def _replay(session: Session, partner: str, key: str, fingerprint: str) -> Job | None:
        record = session.get(IdempotencyRecord, (partner, key))
        if record is None:
            return None
        if record.request_sha256 != fingerprint:
            raise IdempotencyConflict(
                "this Idempotency-Key was used with a different request; use a new key for a "
                "new request",
                {"job_id": record.job_id},
            )
        return session.get(Job, record.job_id)

    def visible_job(self, principal: Principal, job_id: str) -> Job:
        with self.db.session() as session:
            job = session.get(Job, job_id)
        if job is None or not principal.can_see_partner(job.partner):
            raise NotFound(f"no job {job_id!r}")
        return job

    def history(self, job_id: str) -> list[dict[str, Any]]:
        with self.db.session() as session:
            events = session.scalars(
                select(JobEvent).where(JobEvent.job_id == job_id).order_by(JobEvent.id)
            ).all()
        return [
            {"at": e.at.isoformat(), "action": e.action, "actor": e.actor, "detail": e.detail}
            for e in events
        ]

    def list_jobs(
        self,
        principal: Principal,
        *,
        status: str | None = None,
        verdict: str | None = None,
        template_id: str | None = None,
        partner: str | None = None,
        production_status: str | None = None,
        created_after: dt.datetime | None = None,
        created_before: dt.datetime | None = None,
        cursor: str | None = None,
        limit: int = 50,
    ) -> tuple[list[Job], str | None]:
        """Newest first; ``cursor`` continues after the last job of the previous page."""
        query = select(Job)
        if principal.is_partner:
            if partner not in (None, principal.partner):
                return [], None  # another tenant's jobs: as if there were none
            partner = principal.partner
        conditions = [
            column == value
            for column, value in (
                (Job.status, status),
                (Job.verdict, verdict),
                (Job.template_id, template_id),
                (Job.partner, partner),
                (Job.production_status, production_status),
            )
            if value is not None
        ]
        if created_after is not None:
            conditions.append(Job.created_at >= created_after)
        if created_before is not None:
            conditions.append(Job.created_at < created_before)
        if cursor:
            at, last_id = _decode_cursor(cursor)
            conditions.append(
                or_(Job.created_at < at, and_(Job.created_at == at, Job.id < last_id))
            )
        if conditions:
            query = query.where(and_(*conditions))
        limit = max(1, min(limit, _MAX_PAGE))
        query = query.order_by(Job.created_at.desc(), Job.id.desc()).limit(limit + 1)
        with self.db.session() as session:
            jobs = list(session.scalars(query).all())
        next_cursor = None
        if len(jobs) > limit:
            jobs = jobs[:limit]
            next_cursor = _encode_cursor(jobs[-1])
        return jobs, next_cursor

    def result_file(self, principal: Principal, job_id: str, result: str) -> tuple[Job, str]:
        """The stored key of one of a finished job's files, if the caller may have it."""
        job = self.visible_job(principal, job_id)
        name = RESULT_FILES[result]
        if name in PRINT_FILES and principal.role not in ("production", "admin"):
            raise Forbidden("print files are for production staff (the production role)")
        if job.status != JobStatus.DONE:
            raise NotFinished(
                f"job {job.id} is {job.status}"
                + (f" ({job.error_code}: {job.error_message})" if job.error_code else "")
                + "; results exist once it is done",
                {"status": job.status},
            )
        output = job.outputs.get(name)
        if output is None:
            raise NotFound(f"job {job.id} has no {name} (white masks exist for clear cases)")
        return job, str(output["key"])

    def decide(self, principal: Principal, job_id: str, approve: bool, reason: str | None) -> Job:
        """Approve or reject. A partner signs off the warnings of its own job (or withdraws
        it); production approves for printing, or rejects with a reason."""
        job = self.visible_job(principal, job_id)
        if principal.role == "order-service":
            raise Forbidden("the order-service role cannot approve or reject jobs")
        if job.status != JobStatus.DONE:
            raise NotFinished(f"job {job.id} is {job.status}; decide once it is done")
        now = utcnow()
        with self.db.session() as session:
            current = session.get(Job, job.id, with_for_update=True)
            assert current is not None
            if approve and current.verdict == "fail":
                raise Conflict(
                    "a job with errors cannot be approved; fix the artwork and submit a new job",
                    {"verdict": current.verdict},
                )
            if principal.is_partner:
                if approve:
                    current.partner_signed_off_at = current.partner_signed_off_at or now
                    action = "signed-off"
                else:
                    current.production_status = "rejected"
                    current.production_decided_at = now
                    current.decision_reason = reason or "withdrawn by the partner"
                    action = "withdrawn"
            else:
                if approve:
                    if current.verdict == "warn" and current.partner_signed_off_at is None:
                        raise Conflict(
                            "the partner has not signed off this job's warnings yet",
                            {"verdict": current.verdict},
                        )
                    current.production_status = "approved"
                    current.decision_reason = reason
                    action = "approved"
                else:
                    if not reason:
                        raise BadRequest("say why the job is rejected (field 'reason')")
                    current.production_status = "rejected"
                    current.decision_reason = reason
                    action = "rejected"
                current.production_decided_at = now
            session.add(
                JobEvent(
                    job_id=current.id,
                    action=action,
                    actor=principal.actor,
                    detail={"reason": reason} if reason else {},
                )
            )
            return current

    def approved_for_batch(
        self,
        template_id: str | None,
        since: dt.datetime | None,
        job_ids: list[str] | None,
        limit: int,
    ) -> list[Job]:
        query = select(Job).where(Job.production_status == "approved", Job.status == JobStatus.DONE)
        if template_id:
            query = query.where(Job.template_id == template_id)
        if since:
            query = query.where(Job.production_decided_at >= since)
        if job_ids:
            query = query.where(Job.id.in_(job_ids))
        query = query.order_by(Job.production_decided_at, Job.id).limit(limit)
        with self.db.session() as session:
            return list(session.scalars(query).all())

    def batch_zip(self, jobs: list[Job]) -> Iterator[bytes]:
        """A ZIP of the print files (and white masks) with ``manifest.json``, produced as it
        is sent: each file is read and written in turn, never the whole archive in memory."""
        buffer = _Drain()
        manifest: list[dict[str, Any]] = []
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
            for job in jobs:
                files = []
                for name in PRINT_FILES:
                    output = job.outputs.get(name)
                    if output is None:
                        continue
                    arcname = f"{job.id}/{name}"
                    stamp = job.finished_at or utcnow()
                    entry = zipfile.ZipInfo(arcname, date_time=stamp.timetuple()[:6])
                    # TIFFs are already Deflate-compressed: stored, not compressed again.
                    entry.compress_type = zipfile.ZIP_STORED
                    with (
                        self.storage.path(str(output["key"])).open("rb") as source,
                        archive.open(entry, "w", force_zip64=True) as target,
                    ):
                        while chunk := source.read(1024 * 1024):
                            target.write(chunk)
                            yield buffer.take()
                    files.append(
                        {"name": arcname, "bytes": output["bytes"], "sha256": output["sha256"]}
                    )
                manifest.append(
                    {
                        "job": job.id,
                        "partner": job.partner,
                        "sku": job.sku,
                        "template": job.template_id,
                        "approved_at": job.production_decided_at.isoformat()
                        if job.production_decided_at
                        else None,
                        "files": files,
                    }
                )
            archive.writestr(
                "manifest.json",
                json.dumps({"schema": "preflight-batch/1", "jobs": manifest}, indent=2),
            )
        yield buffer.take()

    def counts_by_status(self) -> dict[str, int]:
        with self.db.session() as session:
            rows = session.execute(select(Job.status, func.count()).group_by(Job.status)).all()
        return {str(status): int(count) for status, count in rows}


def job_document(job: Job) -> dict[str, Any]:
    """A job as the API and the webhooks show it (links are paths under the API's root)."""
    base = f"/v1/jobs/{job.id}"
    links = {"self": base, "approve": f"{base}/approve", "reject": f"{base}/reject"}
    if job.status == JobStatus.DONE:
        links.update(
            {
                "report": f"{base}/report",
                "proof": f"{base}/proof",
                "proof_thumbnail": f"{base}/proof/thumbnail",
                "overlay": f"{base}/overlay",
                "color_shift": f"{base}/color-shift",
                "print_file": f"{base}/print-file",
            }
        )
        if "white.tif" in job.outputs:
            links["white_mask"] = f"{base}/print-file/white-mask"
    report = job.report or {}
    return {
        "id": job.id,
        "partner": job.partner,
        "artwork_id": job.artwork_id,
        "template_id": job.template_id,
        "sku": job.sku,
        "status": job.status,
        "verdict": job.verdict,
        "error": {"code": job.error_code, "message": job.error_message or "", "details": {}}
        if job.error_code
        else None,
        "attempts": job.attempts,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "partner_signed_off_at": job.partner_signed_off_at,
        "production_status": job.production_status,
        "production_decided_at": job.production_decided_at,
        "decision_reason": job.decision_reason,
        "findings": report.get("findings", []),
        "links": links,
    }


class _Drain(io.RawIOBase):
    """A write-only stream whose contents are taken away in pieces (for a streamed ZIP)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._written = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._written += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._written

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


def _encode_cursor(job: Job) -> str:
    raw = json.dumps([job.created_at.isoformat(), job.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[dt.datetime, str]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        at, job_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None or not isinstance(job_id, str):
            raise ValueError("bad cursor")
        return moment, job_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("this cursor is not one the API gave out", {"field": "cursor"}) from exc
