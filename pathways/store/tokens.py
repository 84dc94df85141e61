"""Bearer tokens as stored: only a token's SHA-256, with its role, holder and expiry.

Issuing and revoking are audited in the caller's unit of work; the API verifies tokens
(api/security.py) against what is kept here.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from pathways.roles import known_role, unknown_role
from pathways.store.effects import audit
from pathways.store.tables import ApiToken

TOKEN_LIFETIME = timedelta(days=90)  # the default: a quarter, then a new token
LONGEST_LIFETIME = timedelta(days=365)  # a token nobody renews for a year is forgotten


class UnknownRole(ValueError):
    """A token was asked for a role outside the closed set."""


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    session: Session,
    role: str,
    actor: str,
    now: datetime,
    lifetime: timedelta = TOKEN_LIFETIME,
    by: str = "operator",
) -> str:
    """Create a token for a known role (audited as `by`); only its hash is kept: shown once."""
    if not known_role(role):
        raise UnknownRole(unknown_role(role))
    if not timedelta(0) < lifetime <= LONGEST_LIFETIME:
        raise ValueError(f"a token lives at most {LONGEST_LIFETIME.days} days, and more than 0")
    token, at = secrets.token_urlsafe(32), now
    row = ApiToken(
        token_hash=digest(token), role=role, actor=actor, created_at=at, expires_at=at + lifetime
    )
    session.add(row)
    session.flush()  # the id, for the audit row
    detail = {"role": role, "actor": actor, "expires_at": row.expires_at.isoformat()}
    audit(session, by, "token_created", "api_token", str(row.id), at, None, detail)
    return token


def tokens(session: Session) -> list[ApiToken]:
    """Every token issued, newest first (hashes included: never show them)."""
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.id).desc())))


def revoke_token(
    session: Session, token_id: int, by: str, reason: str | None, now: datetime
) -> ApiToken | None:
    """Revoke a token (audited); None when there is no such token. Revoking twice is a no-op."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked_at is not None:
        return row
    row.revoked_at = now
    session.add(row)
    audit(session, by, "token_revoked", "api_token", str(token_id), now, reason, {})
    return row
