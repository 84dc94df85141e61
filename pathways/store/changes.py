"""The change log: a row per enrollment status/flag change and per task status change.

Each row is written in the transaction that made the change, so the feed (GET /changes)
never shows a change that was rolled back, and never misses one that was committed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Table
from sqlmodel import Session

from pathways.store.tables import ChangeLog, Enrollment

CHANGES: Table = ChangeLog.__table__  # type: ignore[attr-defined]


def change_row(
    kind: Literal["enrollment", "task"],
    target_id: Any,
    enrollment_id: str,
    status: Any,
    flag: str | None,
    now: datetime,
) -> tuple[Table, dict[str, Any]]:
    """One change (ids and codes only) as a row of the log; `target_id` and `status` may be
    SQL expressions (a task named by a subquery)."""
    row = {
        "kind": kind,
        "target_id": target_id,
        "enrollment_id": enrollment_id,
        "status": status,
        "flag": flag,
        "at": now,
    }
    return CHANGES, row


def record_change(
    session: Session,
    kind: Literal["enrollment", "task"],
    target_id: str,
    enrollment_id: str,
    status: str,
    flag: str | None,
    now: datetime,
) -> None:
    """Append one change (ids and codes only) to the log, in the caller's transaction."""
    _, row = change_row(kind, target_id, enrollment_id, status, flag, now)
    session.add(ChangeLog(**row))


def record_enrollment_change(session: Session, enrollment: Enrollment, now: datetime) -> None:
    """Log an enrollment's current status and flag (it is its own enrollment_id)."""
    record_change(
        session, "enrollment", enrollment.id, enrollment.id, enrollment.status, enrollment.flag, now
    )
