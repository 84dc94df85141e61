"""Who is calling and what they may do: bearer tokens (stored hashed, expiring) with roles.

The roles are the closed set of pathways/roles.py: `admin`; `navigator`; `dashboard`
(read-only); and the clinic's staff roles (`lab`, `oncology_nurse`, ...), who work their own
role's queue. A role outside the set has no permission at all, here or anywhere.
"""

import hmac
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session, select

from pathways.roles import PRIVILEGED_ROLES, STAFF_ROLES, unknown_role
from pathways.roles import ROLES as ROLES  # the closed set, for OpenID Connect's group mapping
from pathways.roles import known_role as known_role
from pathways.store.tables import ApiToken
from pathways.store.tokens import UnknownRole as UnknownRole
from pathways.store.tokens import digest

PRIVILEGED = PRIVILEGED_ROLES


class Permission(StrEnum):
    """What an endpoint needs."""

    READ = "read"  # pathways, enrollments, progress
    QUEUE = "queue"  # task queues (staff: their own role's)
    WORK = "work"  # claim, complete, skip tasks (staff: their own role's)
    NAVIGATE = "navigate"  # patients, enrolments, holds, events, reassigning tasks
    PUBLISH = "publish"  # new pathway versions
    AUDIT = "audit"  # the audit trail


STAFF: frozenset[Permission] = frozenset({Permission.READ, Permission.QUEUE, Permission.WORK})
MATRIX: dict[str, frozenset[Permission]] = {
    "admin": frozenset(Permission),
    "navigator": frozenset(
        {Permission.READ, Permission.QUEUE, Permission.WORK, Permission.NAVIGATE}
    ),
    "dashboard": frozenset({Permission.READ}),
    **{role: STAFF for role in STAFF_ROLES},
}
assert set(MATRIX) == ROLES, "every role, and only the roles, has a line in the matrix"


class TokenRefused(Exception):
    """A credential that stands for someone but may not be used now (expired, revoked, ...)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class Principal:
    """The caller: an actor name for the audit log, a role, and when the credential expires."""

    actor: str
    role: str
    expires_at: datetime | None = None

    def may(self, permission: Permission) -> bool:
        """Whether this role has the permission at all (an unknown role has none)."""
        return permission in MATRIX.get(self.role, frozenset())

    def sees_patients(self) -> bool:
        """Whether this role may ever identify a patient (a read-only dashboard never does)."""
        return self.may(Permission.NAVIGATE) or self.may(Permission.WORK)

    def sees_every_patient(self) -> bool:
        """Admins and navigators see every patient; staff only those they have work for."""
        return self.may(Permission.NAVIGATE)

    def works_role(self, role: str) -> bool:
        """Whether this caller may act on a task of `role` (staff only on their own)."""
        return self.role in ("admin", "navigator") or self.role == role


def principal(session: Session, token: str, admin_token: str, now: datetime) -> Principal | None:
    """The caller a bearer token stands for, None for no one; TokenRefused when it may not act.

    The one place a bearer credential becomes a Principal (tokens here; OpenID Connect too).
    """
    if admin_token and hmac.compare_digest(digest(token), digest(admin_token)):
        return Principal("admin", "admin")
    found = session.exec(select(ApiToken).where(ApiToken.token_hash == digest(token))).first()
    if found is None:
        return None
    at = now
    if found.revoked_at is not None:
        raise TokenRefused(401, f"this token was revoked on {found.revoked_at:%Y-%m-%d}; {RENEW}")
    if found.expires_at <= at:
        raise TokenRefused(401, f"this token expired on {found.expires_at:%Y-%m-%d}; {RENEW}")
    if not known_role(found.role):
        raise TokenRefused(403, f"this token's role is refused: {unknown_role(found.role)}")
    return Principal(found.actor, found.role, found.expires_at)


RENEW = "ask an admin for a new one (carepath token create --role ROLE)"
