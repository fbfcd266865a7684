"""Webhook delivery: POST a finished job to its ``callback_url``, signed, retried, recorded.

Signature (like the big payment APIs): header ``Preflight-Signature: t=<unix seconds>,
v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the partner's webhook secret>``. A receiver
recomputes it and rejects old timestamps (replays). Retries wait for the configured delays
(``PREFLIGHT_WEBHOOK_RETRY_DELAYS_S``); every attempt is recorded on the delivery row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import time
from typing import Any

import httpx
from sqlalchemy import select, update

from api.records import Job, Partner, WebhookDelivery, utcnow
from api.service import job_document
from worker.tasks import WorkerContext

__all__ = ["deliver_due", "sign", "verify"]

log = logging.getLogger("preflight.webhooks")
_BATCH = 20


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


def verify(secret: str, header: str, body: bytes, tolerance_s: float = 300.0) -> bool:
    """What a receiver does: check the signature and that the timestamp is recent."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), header)


def deliver_due(ctx: WorkerContext, client: httpx.Client | None = None) -> int:
    """Send the deliveries that are due; returns how many were attempted."""
    now = utcnow()
    with ctx.db.session() as session:
        due = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(_BATCH)
        ).all()
    if not due:
        return 0
    attempted = 0
    owns_client = client is None
    client = client or httpx.Client(timeout=ctx.settings.webhook_timeout_s)
    try:
        for delivery in due:
            if _claim(ctx, delivery):
                _attempt(ctx, client, delivery)
                attempted += 1
    finally:
        if owns_client:
            client.close()
    return attempted


def _claim(ctx: WorkerContext, delivery: WebhookDelivery) -> bool:
    # Push the next attempt past this one's timeout: another worker will not take it meanwhile.
    hold = dt.timedelta(seconds=ctx.settings.webhook_timeout_s * 3)
    with ctx.db.session() as session:
        claimed = session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
            )
            .values(next_attempt_at=utcnow() + hold)
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount == 1)  # type: ignore[attr-defined]


def _attempt(ctx: WorkerContext, client: httpx.Client, delivery: WebhookDelivery) -> None:
    with ctx.db.session() as session:
        job = session.get(Job, delivery.job_id)
        assert job is not None
        partner = session.get(Partner, job.partner)
        assert partner is not None
        secret = partner.webhook_secret
    document: dict[str, Any] = {
        "event": delivery.event,
        "delivery_id": delivery.id,
        "job": job_document(job),
    }
    body = json.dumps(document, default=_json_default, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "case-preflight-webhooks/1",
        "Preflight-Event": delivery.event,
        "Preflight-Delivery": str(delivery.id),
        "Preflight-Signature": sign(secret, int(time.time()), body),
    }
    started = utcnow()
    status_code: int | None = None
    error: str | None = None
    try:
        response = client.post(delivery.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"answered HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    attempt = {"at": started.isoformat(), "status_code": status_code, "error": error}
    delays = ctx.settings.webhook_retry_delays_s
    with ctx.db.session() as session:
        row = session.get(WebhookDelivery, delivery.id)
        assert row is not None
        row.attempts += 1
        row.last_status_code = status_code
        row.last_error = error
        row.attempts_log = {"attempts": [*row.attempts_log.get("attempts", []), attempt]}
        if error is None:
            row.status = "delivered"
            row.delivered_at = utcnow()
        elif row.attempts > len(delays):
            row.status = "given-up"
            log.warning("webhook %s for job %s given up: %s", row.id, row.job_id, error)
        else:
            row.next_attempt_at = utcnow() + dt.timedelta(seconds=delays[row.attempts - 1])


def _json_default(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    raise TypeError(f"cannot serialise {type(value).__name__}")
