"""/enrollments/{id}/events: an enrollment's event history, and what the engine made of each.

The event log is append-only; this is its reading for people. What an event carried (a
recorded ANC, a hold's reason) is shown only to callers who may see the patient (audited).
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlmodel import col, select

from api.cursors import number, numbered
from api.deps import PatientViewDep, Reader, SessionDep
from pathways.store.enrollments import NotFound
from pathways.store.tables import Enrollment, PathwayEvent

router = APIRouter(prefix="/enrollments", tags=["enrollments"])

Outcome = Literal["waiting", "applied", "rejected"]


class EventOut(BaseModel):
    """An event sent for an enrollment, and its outcome: waiting, applied or rejected (why)."""

    event: int
    type: str
    actor: str
    recorded_at: datetime
    outcome: Outcome
    reason: str | None
    data: dict[str, Any] | None = None  # for roles that may see patients


class EventPage(BaseModel):
    """A page of the event log, newest first; pass `next_cursor` back as `cursor` (null: the
    oldest event, the enrolment, is on this page)."""

    items: list[EventOut]
    next_cursor: str | None


def event_out(event: PathwayEvent, with_data: bool = False) -> EventOut:
    """The public form of a stored event."""
    assert event.id is not None
    if event.processed_at is None:
        outcome: Outcome = "waiting"
    else:
        outcome = "applied" if event.rejected_reason is None else "rejected"
    return EventOut(
        event=event.id,
        type=event.type,
        actor=event.actor,
        recorded_at=event.recorded_at,
        outcome=outcome,
        reason=event.rejected_reason,
        data=event.data if with_data else None,
    )


@router.get("/{enrollment_id}/events")
def list_events(
    enrollment_id: str,
    who: Reader,
    db: SessionDep,
    view: PatientViewDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(min_length=2, max_length=40)] = None,
) -> EventPage:
    """The newest events first (enrolment included), each with its outcome."""
    enrollment = db.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    with_data = view.shows(enrollment.patient_id)
    query = select(PathwayEvent).where(PathwayEvent.enrollment_id == enrollment_id)
    if cursor is not None:  # ids only grow: older events are those with a smaller id
        query = query.where(col(PathwayEvent.id) < number(cursor, "e"))
    rows = list(db.exec(query.order_by(col(PathwayEvent.id).desc()).limit(limit + 1)))
    items = [event_out(row, with_data=with_data) for row in rows[:limit]]
    more = len(rows) > limit
    return EventPage(items=items, next_cursor=numbered("e", items[-1].event) if more else None)
