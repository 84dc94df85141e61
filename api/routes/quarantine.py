"""/events/quarantined: events whose application kept failing, for an administrator to settle.

Ids, types and error classes only: the event's data stays in the store.
"""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path
from pydantic import BaseModel, ConfigDict, StringConstraints

from api.deps import Administrator, ServiceDep, SessionDep
from pathways.service.commands import RejectEvent, RetryEvent
from pathways.store.quarantine import (
    NotQuarantined,
    quarantined_events,
)

router = APIRouter(prefix="/events", tags=["operations"])
EventId = Annotated[int, Path(ge=1, le=2**63 - 1)]


class QuarantinedEvent(BaseModel):
    """An event set aside after repeated failures; later events of its enrollment wait."""

    id: int
    enrollment_id: str
    type: str
    attempts: int
    last_error: str | None
    recorded_at: datetime
    quarantined_at: datetime


class Rejection(BaseModel):
    """Why the event is rejected (kept in the event log and the audit trail)."""

    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class Settled(BaseModel):
    """What was done, and the event now enqueued (if any)."""

    event: int
    outcome: str
    enqueued: int | None


@router.get("/quarantined")
def list_quarantined(who: Administrator, db: SessionDep) -> list[QuarantinedEvent]:
    """Events set aside after repeated failures, oldest first (admin only)."""
    return [
        QuarantinedEvent.model_validate(event, from_attributes=True)
        for event in quarantined_events(db)
    ]


@router.post("/{event_id}/retry")
def retry(event_id: EventId, who: Administrator, service: ServiceDep) -> Settled:
    """Put a quarantined event back in line, once its cause is fixed (admin only)."""
    try:
        last = service.handle(RetryEvent(event_id=event_id, actor=who.actor))
    except NotQuarantined as error:
        raise HTTPException(409, f"{error}: only a quarantined event can be retried") from None
    return Settled(event=event_id, outcome="retrying", enqueued=last)


@router.post("/{event_id}/reject")
def reject(event_id: EventId, body: Rejection, who: Administrator, service: ServiceDep) -> Settled:
    """End a quarantined event unapplied, so the events after it go on (admin only)."""
    try:
        following = service.handle(
            RejectEvent(event_id=event_id, reason=body.reason, actor=who.actor)
        )
    except NotQuarantined as error:
        raise HTTPException(409, f"{error}: only a quarantined event can be rejected") from None
    return Settled(event=event_id, outcome="rejected", enqueued=following)
