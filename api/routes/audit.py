"""/audit: the audit trail for admins — who did what to which record, and who read which patient.

Newest first, paged by a cursor (the last id seen), filtered by actor, action, target and time.
Rows hold ids and codes only (no PHI), so reading them is not itself audited.
"""

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AfterValidator, BaseModel
from sqlmodel import col, select

from api.cursors import number, numbered
from api.deps import Auditor, SessionDep
from pathways.store.tables import AuditLog

router = APIRouter(prefix="/audit", tags=["audit"])


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("give a moment with its zone, e.g. 2026-12-01T08:00:00Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00 is before the year 1 in UTC
        raise ValueError("give a moment in the years 1 to 9999 in UTC") from None


Since = Annotated[datetime, AfterValidator(_aware)]


class AuditEntryOut(BaseModel):
    """One audit row: who (actor), what (action), to which record (target), when, and why."""

    id: int
    actor: str
    action: str
    target_type: str
    target_id: str
    at: datetime
    reason: str | None
    detail: dict[str, Any]


class AuditPage(BaseModel):
    """A page of the trail, newest first; pass `next_cursor` back as `cursor` (null: the end)."""

    items: list[AuditEntryOut]
    next_cursor: str | None


@router.get("")
def read_audit(
    who: Auditor,
    db: SessionDep,
    actor: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    action: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    target_type: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    target_id: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    since: Annotated[Since | None, Query(description="at or after, with its zone")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(min_length=2, max_length=40)] = None,
) -> AuditPage:
    """The audit trail, newest first, for admins; every filter given must match."""
    query = select(AuditLog)
    for column, wanted in (
        (AuditLog.actor, actor),
        (AuditLog.action, action),
        (AuditLog.target_type, target_type),
        (AuditLog.target_id, target_id),
    ):
        if wanted is not None:
            query = query.where(col(column) == wanted)
    if since is not None:
        query = query.where(col(AuditLog.at) >= since)
    if cursor is not None:
        query = query.where(col(AuditLog.id) < number(cursor, "a"))
    rows = list(db.exec(query.order_by(col(AuditLog.id).desc()).limit(limit + 1)))
    items = [AuditEntryOut.model_validate(row, from_attributes=True) for row in rows[:limit]]
    more = len(rows) > limit
    return AuditPage(items=items, next_cursor=numbered("a", items[-1].id) if more else None)
