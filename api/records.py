"""Job records: SQLAlchemy models shared by the API (writes requests, reads results) and the
worker (claims jobs, writes results). The schema is created and changed only by the Alembic
migrations in ``api/migrations``; a test checks the models and the migrations agree.

Times are UTC and timezone-aware everywhere (SQLite stores them naive; :class:`UtcDateTime`
puts the zone back on read).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "ApiKey",
    "Artwork",
    "Base",
    "IdempotencyRecord",
    "Job",
    "JobEvent",
    "JobStatus",
    "Partner",
    "WebhookDelivery",
    "new_id",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(prefix: str) -> str:
    """A random public id with a readable kind prefix, e.g. ``job_3f9c...``."""
    return f"{prefix}_{secrets.token_hex(12)}"


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: use preflight's utcnow()")
        return value.astimezone(dt.UTC)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class JobStatus:
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    ALL = (QUEUED, RUNNING, DONE, FAILED)
    FINISHED = (DONE, FAILED)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dt.datetime: UtcDateTime, dict[str, Any]: JSON}


class Partner(Base):
    """A tenant: an online shop. Its webhook secret signs the deliveries it receives."""

    __tablename__ = "partners"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    webhook_secret: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key, stored as the SHA-256 of the whole key (keys are 256-bit random, so a
    fast hash is enough: there is nothing to brute-force)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    partner: Mapped[str | None] = mapped_column(ForeignKey("partners.name"), default=None)
    label: Mapped[str | None] = mapped_column(String(200), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Artwork(Base):
    """An uploaded file, stored once per partner and content (SHA-256)."""

    __tablename__ = "artworks"
    __table_args__ = (UniqueConstraint("partner", "sha256", name="uq_artworks_partner_sha256"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner: Mapped[str] = mapped_column(ForeignKey("partners.name"))
    sha256: Mapped[str] = mapped_column(String(64))
    file_name: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(Integer)
    format: Mapped[str] = mapped_column(String(16))
    width_px: Mapped[int] = mapped_column(Integer)
    height_px: Mapped[int] = mapped_column(Integer)
    mode: Mapped[str] = mapped_column(String(16))
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    storage_key: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Job(Base):
    """One preflight of one artwork for one template, from request to verdict and approval."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_partner_created", "partner", "created_at", "id"),
        Index("ix_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    partner: Mapped[str] = mapped_column(ForeignKey("partners.name"))
    artwork_id: Mapped[str] = mapped_column(ForeignKey("artworks.id"))
    template_id: Mapped[str] = mapped_column(String(80))
    sku: Mapped[str | None] = mapped_column(String(80), default=None)
    request: Mapped[dict[str, Any]] = mapped_column(default=dict)  # placement and options
    callback_url: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    verdict: Mapped[str | None] = mapped_column(String(8), default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[dt.datetime | None] = mapped_column(default=None)  # outbox mark
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    lease_until: Mapped[dt.datetime | None] = mapped_column(default=None)
    lease_owner: Mapped[str | None] = mapped_column(String(120), default=None)  # host:pid
    finished_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    outputs: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name → key, bytes, sha256
    partner_signed_off_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    production_status: Mapped[str | None] = mapped_column(String(16), default=None)
    production_decided_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    decision_reason: Mapped[str | None] = mapped_column(Text, default=None)


class JobEvent(Base):
    """The job's history: created, started, finished, signed off, approved, rejected..."""

    __tablename__ = "job_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(80))  # "worker", or the API key id and role
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IdempotencyRecord(Base):
    """``Idempotency-Key`` → the job it created, with a hash of the request it came with."""

    __tablename__ = "idempotency_keys"

    partner: Mapped[str] = mapped_column(ForeignKey("partners.name"), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """The callback for one finished job: exactly one row per job and event, retried until
    delivered or out of retries; every attempt's outcome is kept in ``attempts_log``."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (UniqueConstraint("job_id", "event", name="uq_webhook_job_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id"))
    event: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # delivered, given-up
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    attempts_log: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"attempts": [...]}
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(default=None)
