"""API keys and roles.

A key looks like ``pfk_<key id>_<secret>``: the id finds the record, the SHA-256 of the whole
key must match the stored hash (compared in constant time). The key itself is shown once, at
creation, and never stored.

Roles: ``partner`` (its own artworks and jobs only), ``order-service`` (submit and read for
any partner), ``production`` (read everything, download print files, approve or reject for
printing), ``admin`` (everything). Another tenant's ids are answered 404, as if they did not
exist: a 403 would confirm they do.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.errors import BadRequest, Forbidden, Unauthorized
from api.records import ApiKey, Partner, utcnow

__all__ = [
    "ROLES",
    "Principal",
    "authenticate",
    "create_key",
    "ensure_partner",
    "valid_partner_name",
]

ROLES = ("partner", "order-service", "production", "admin")
_PREFIX = "pfk"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key id, its role, and for partners the tenant."""

    key_id: str
    role: str
    partner: str | None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.key_id}"

    @property
    def is_partner(self) -> bool:
        return self.role == "partner"

    def can_see_partner(self, partner: str) -> bool:
        return not self.is_partner or self.partner == partner

    def partner_for_submission(self, requested: str | None) -> str:
        """The tenant a new artwork or job belongs to."""
        if self.is_partner:
            assert self.partner is not None
            if requested not in (None, self.partner):
                raise Forbidden("a partner key can only submit for its own partner")
            return self.partner
        if self.role in ("order-service", "admin"):
            if not requested:
                raise BadRequest(
                    "name the partner this submission is for (field 'partner')",
                    {"field": "partner"},
                )
            if not valid_partner_name(requested):
                raise BadRequest(
                    "a partner name is 1-64 letters, digits and dashes", {"field": "partner"}
                )
            return requested
        raise Forbidden(f"the {self.role} role cannot submit artworks or jobs")

    def require(self, *roles: str) -> None:
        if self.role not in roles and self.role != "admin":
            raise Forbidden(f"this needs the {' or '.join(roles)} role; this key is {self.role}")


def valid_partner_name(name: str) -> bool:
    """1-64 ASCII letters, digits and dashes (it is a key in records and URLs)."""
    return 0 < len(name) <= 64 and name.isascii() and name.replace("-", "").isalnum()


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def ensure_partner(session: Session, name: str) -> Partner:
    """The partner record, created with a fresh webhook secret on first use."""
    partner = session.get(Partner, name)
    if partner is None:
        partner = Partner(name=name, webhook_secret=f"whsec_{secrets.token_urlsafe(32)}")
        session.add(partner)
        session.flush()
    return partner


def create_key(
    session: Session, role: str, partner: str | None, label: str | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the record and the key, which is never shown again."""
    if role not in ROLES:
        raise BadRequest(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if role == "partner" and not partner:
        raise BadRequest("a partner key needs --partner NAME")
    if role != "partner" and partner:
        raise BadRequest(f"the {role} role works for every partner; leave out --partner")
    if partner is not None:
        if not valid_partner_name(partner):
            raise BadRequest("a partner name is 1-64 letters, digits and dashes")
        ensure_partner(session, partner)
    key_id = secrets.token_hex(6)
    key = f"{_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    record = ApiKey(id=key_id, key_sha256=_digest(key), role=role, partner=partner, label=label)
    session.add(record)
    session.flush()
    return record, key


def authenticate(session: Session, authorization: str | None) -> Principal:
    """The principal for an ``Authorization: Bearer <key>`` header, or :class:`Unauthorized`."""
    if not authorization:
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("send your API key as 'Authorization: Bearer <key>'")
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != _PREFIX:
        raise Unauthorized("this is not a preflight API key")
    record = session.scalar(select(ApiKey).where(ApiKey.id == parts[1]))
    if record is None or not hmac.compare_digest(record.key_sha256, _digest(key)):
        raise Unauthorized("unknown API key")
    if record.revoked_at is not None and record.revoked_at <= utcnow():
        raise Unauthorized("this API key was revoked")
    return Principal(key_id=record.id, role=record.role, partner=record.partner)
