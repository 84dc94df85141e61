"""/enrollments: list, and events posted to one (202: a worker applies them)."""

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlmodel import col, select

from api.deps import EngineDep, EnqueueDep, Navigator, Reader, SessionDep
from pathways.store.enrollments import record_event
from pathways.store.tables import Enrollment
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

router = APIRouter(prefix="/enrollments", tags=["enrollments"])


class EventIn(BaseModel):
    """An event for an enrollment: its type, data and the caller's idempotency key."""

    type: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str = Field(min_length=1, max_length=200)


class EventAccepted(BaseModel):
    """The stored event's id, and whether this request created it."""

    event: int
    created: bool


class EnrollmentSummary(BaseModel):
    """One line of the enrollment list."""

    id: str
    pathway: str
    version: int
    status: str
    flag: str
    next_due_at: datetime | None


@router.get("")
def list_enrollments(who: Reader, db: SessionDep) -> list[EnrollmentSummary]:
    """Enrollments, soonest due first."""
    rows = db.exec(
        select(Enrollment)
        .order_by(col(Enrollment.next_due_at).is_(None), col(Enrollment.next_due_at))
        .limit(200)
    )
    return [
        EnrollmentSummary(
            id=row.id,
            pathway=row.pathway,
            version=row.pathway_version,
            status=row.status,
            flag=row.flag,
            next_due_at=row.next_due_at,
        )
        for row in rows
    ]


@router.post("/{enrollment_id}/events", status_code=202)
def post_event(
    enrollment_id: str, event: EventIn, who: Navigator, engine: EngineDep, enqueue: EnqueueDep
) -> EventAccepted:
    """Store an event (once per idempotency key) and have a worker apply it."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        row, created = record_event(
            uow,
            enrollment_id,
            event.type,
            event.data,
            event.idempotency_key,
            who.actor,
            datetime.now(UTC),
        )
        uow.commit()
    assert row.id is not None
    if created:
        enqueue(row.id)  # after the commit: the message carries the id only
    return EventAccepted(event=row.id, created=created)
