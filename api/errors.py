"""Errors the service adds to the library's typed errors (same shape: code, message, status).

One handler in :mod:`api.app` turns every :class:`~preflight.errors.PreflightError` into
``{"error": {"code": ..., "message": ...}}``; routes raise these, never ``HTTPException``.
"""

from __future__ import annotations

from typing import Any

from preflight.errors import PreflightError

__all__ = [
    "ApiError",
    "BadRequest",
    "BrokerUnavailable",
    "Conflict",
    "Forbidden",
    "IdempotencyConflict",
    "NotFinished",
    "NotFound",
    "PayloadTooLarge",
    "Unauthorized",
]


class ApiError(PreflightError):
    """A service error, optionally with machine-readable details."""

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


class Unauthorized(ApiError):
    code = "unauthorized"
    http_status = 401


class Forbidden(ApiError):
    code = "forbidden"
    http_status = 403


class NotFound(ApiError):
    code = "not-found"
    http_status = 404


class BadRequest(ApiError):
    code = "invalid-request"
    http_status = 422


class IdempotencyConflict(ApiError):
    code = "idempotency-key-reused"
    http_status = 422


class Conflict(ApiError):
    code = "conflict"
    http_status = 409


class NotFinished(ApiError):
    code = "job-not-finished"
    http_status = 409


class PayloadTooLarge(ApiError):
    code = "file-too-large"
    http_status = 413


class BrokerUnavailable(ApiError):
    code = "broker-unavailable"
    http_status = 503
