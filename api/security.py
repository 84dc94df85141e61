"""Who is calling and what they may do: bearer tokens (stored hashed) with roles.

Roles: `admin`; `navigator`; `dashboard` (read-only); and each staff role of the library
(`lab`, `oncology_nurse`, ...), who work their own role's queue.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from sqlmodel import Session, col, select

from pathways.store.tables import ApiToken

PRIVILEGED = ("admin", "navigator", "dashboard")


class Permission(StrEnum):
    """What an endpoint needs."""

    READ = "read"  # pathways, enrollments, progress
    QUEUE = "queue"  # task queues (staff: their own role's)
    WORK = "work"  # claim, complete, skip tasks (staff: their own role's)
    NAVIGATE = "navigate"  # patients, enrolments, holds, events, reassigning tasks
    PUBLISH = "publish"  # new pathway versions


MATRIX: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "navigator": frozenset(
        {Permission.READ, Permission.QUEUE, Permission.WORK, Permission.NAVIGATE}
    ),
    "dashboard": frozenset({Permission.READ}),
}
STAFF: frozenset[Permission] = frozenset({Permission.READ, Permission.QUEUE, Permission.WORK})


@dataclass(frozen=True)
class Principal:
    """The caller: an actor name for the audit log, and a role."""

    actor: str
    role: str

    def may(self, permission: Permission) -> bool:
        """Whether this role has the permission at all."""
        return permission in MATRIX.get(self.role, STAFF)

    def sees_patients(self) -> bool:
        """Whoever works on a patient's care may identify them; a read-only dashboard may not."""
        return self.may(Permission.NAVIGATE) or self.may(Permission.WORK)

    def works_role(self, role: str) -> bool:
        """Whether this caller may act on a task of `role` (staff only on their own)."""
        return self.role in ("admin", "navigator") or self.role == role


def digest(token: str) -> str:
    """The SHA-256 of a token, as stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, role: str, actor: str) -> str:
    """Create a token for a role; only its hash is kept, so it is shown once."""
    token = secrets.token_urlsafe(32)
    session.add(
        ApiToken(token_hash=digest(token), role=role, actor=actor, created_at=datetime.now(UTC))
    )
    return token


def principal(session: Session, token: str, admin_token: str) -> Principal | None:
    """The caller a bearer token stands for, or None when it stands for no one."""
    if admin_token and hmac.compare_digest(digest(token), digest(admin_token)):
        return Principal("admin", "admin")
    found = session.exec(
        select(ApiToken).where(
            ApiToken.token_hash == digest(token), col(ApiToken.revoked_at).is_(None)
        )
    ).first()
    return Principal(found.actor, found.role) if found else None
