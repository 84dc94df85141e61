"""/changes: a feed of enrollment and task changes for dashboards and integrators to poll.

Ids and codes only (no PHI). Poll with the `next_cursor` of the last page as `after`.
"""

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import col, select

from api.cursors import number, numbered
from api.deps import NowDep, Reader, SessionDep
from pathways.store.tables import ChangeLog

router = APIRouter(prefix="/changes", tags=["changes"])

# Ids are taken when a row is inserted but become visible when its transaction commits, so
# a transaction that took id 7 may commit after one that took id 8. A poller that had read
# 8 and moved its cursor past it would never see 7. Serving only changes older than this
# margin (and stopping at the first newer one) leaves every transaction that long to commit
# before its neighbours are handed out; a write transaction of the store takes milliseconds.
VISIBILITY_MARGIN = timedelta(seconds=2)


class ChangeOut(BaseModel):
    """One change: an enrollment's status and flag, or a task's status, at a moment."""

    id: int
    kind: Literal["enrollment", "task"]
    target_id: str
    enrollment_id: str
    status: str
    flag: str | None
    at: datetime


class ChangePage(BaseModel):
    """Changes after the cursor, oldest first; poll again with `next_cursor`."""

    items: list[ChangeOut]
    next_cursor: str


@router.get("")
def list_changes(
    who: Reader,
    db: SessionDep,
    now: NowDep,
    after: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> ChangePage:
    """Changes with an id after the cursor (none: from the start), in id order."""
    last = 0 if after is None else number(after, "c")
    settled = now - VISIBILITY_MARGIN
    rows = db.exec(
        select(ChangeLog).where(col(ChangeLog.id) > last).order_by(col(ChangeLog.id)).limit(limit)
    )
    items: list[ChangeOut] = []
    for row in rows:
        if row.at >= settled:
            break  # too recent: an earlier id may still be about to commit
        assert row.id is not None
        items.append(ChangeOut.model_validate(row, from_attributes=True))
        last = row.id
    return ChangePage(items=items, next_cursor=numbered("c", last))
