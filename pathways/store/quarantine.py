"""Poison events: counted when their application fails, set aside after too many failures.

A rejection is the engine's answer and ends an event; a failure is an error (a bug, a value
the database refuses) and is rolled back, so it is counted here, in a transaction of its own.
After `limit` failures the event is quarantined: it is no longer retried, the events after it
in its enrollment wait (they must not be applied before it), and administrators are alerted.
An administrator then retries it (after a fix) or rejects it, which lets the rest go on.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from pathways.store.effects import audit, outbox
from pathways.store.tables import PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


class NotQuarantined(Exception):
    """The event is not waiting for an administrator."""


def record_failure(
    uow: SqlAlchemyUnitOfWork, event_id: int, error: BaseException, now: datetime, limit: int
) -> bool:
    """Count a failed application; quarantine the event at `limit` failures."""
    session = uow.session
    event = session.get(PathwayEvent, event_id)
    if event is None or event.processed_at is not None or event.quarantined_at is not None:
        return False
    event.attempts += 1
    event.last_error = type(error).__name__[:200]  # the class only: messages may carry PHI
    quarantined = event.attempts >= limit
    if quarantined:
        event.quarantined_at = now
        detail = {"event": event.id, "type": event.type, "attempts": event.attempts}
        outbox(session, event.enrollment_id, "event_quarantined", "admin", detail, now)
        audit(
            session,
            "carepath",
            "event_quarantined",
            "enrollment",
            event.enrollment_id,
            now,
            f"failed {event.attempts} times ({event.last_error})",
            detail,
        )
    session.add(event)
    return quarantined


def quarantined_events(session: Session, limit: int = 100) -> list[PathwayEvent]:
    """Events set aside for an administrator, oldest first."""
    query = (
        select(PathwayEvent)
        .where(col(PathwayEvent.quarantined_at).is_not(None))
        .where(col(PathwayEvent.processed_at).is_(None))
        .order_by(col(PathwayEvent.id))
        .limit(limit)
    )
    return list(session.exec(query))


def retry_event(uow: SqlAlchemyUnitOfWork, event_id: int, actor: str, now: datetime) -> int:
    """Put a quarantined event back in line (after its cause is fixed).

    Enqueue the id returned: the enrollment's last waiting event, whose message applies the
    retried event and every one after it, in order."""
    event = _quarantined(uow.session, event_id)
    event.quarantined_at, event.attempts = None, 0
    uow.session.add(event)
    detail = {"event": event_id}
    audit(uow.session, actor, "event_retried", "enrollment", event.enrollment_id, now, None, detail)
    last = _last_waiting(uow.session, event.enrollment_id)
    return last or event_id


def reject_event(
    uow: SqlAlchemyUnitOfWork, event_id: int, actor: str, reason: str, now: datetime
) -> int | None:
    """End a quarantined event unapplied.

    Enqueue the id returned (if any): the enrollment's last waiting event, whose message
    applies every event that waited behind the rejected one, in order."""
    event = _quarantined(uow.session, event_id)
    event.processed_at = now
    event.rejected_reason = f"rejected by an administrator: {reason}"
    uow.session.add(event)
    detail = {"event": event_id}
    audit(
        uow.session, actor, "event_rejected", "enrollment", event.enrollment_id, now, reason, detail
    )
    uow.session.flush()
    return _last_waiting(uow.session, event.enrollment_id)


def _last_waiting(session: Session, enrollment_id: str) -> int | None:
    return session.exec(
        select(PathwayEvent.id)
        .where(PathwayEvent.enrollment_id == enrollment_id)
        .where(col(PathwayEvent.processed_at).is_(None))
        .order_by(col(PathwayEvent.id).desc())
    ).first()


def _quarantined(session: Session, event_id: int) -> PathwayEvent:
    event = session.get(PathwayEvent, event_id)
    if event is None or event.quarantined_at is None or event.processed_at is not None:
        raise NotQuarantined(f"event {event_id} is not quarantined")
    return event
