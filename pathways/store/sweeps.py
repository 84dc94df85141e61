"""What beat runs: due timers become events (every second); lost events are found again."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from pathways.store.enrollments import record_event
from pathways.store.tables import PathwayEvent, Timer
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


def next_timer(session: Session, enrollment_id: str) -> Timer | None:
    """An enrollment's pending timer that falls due first, if it has one."""
    return session.exec(
        select(Timer)
        .where(
            Timer.enrollment_id == enrollment_id,
            col(Timer.fired_at).is_(None),
            col(Timer.cancelled_at).is_(None),
        )
        .order_by(col(Timer.due_at))
    ).first()


def fire_due_timers(uow: SqlAlchemyUnitOfWork, now: datetime, limit: int = 500) -> list[int]:
    """Turn each due timer into a timer_fired event (once: the key is the timer's id)."""
    query = (
        select(Timer)
        .where(
            col(Timer.fired_at).is_(None), col(Timer.cancelled_at).is_(None), Timer.due_at <= now
        )
        .order_by(col(Timer.due_at))
        .limit(limit)
    )
    if uow.locks_rows:
        query = query.with_for_update(skip_locked=True)
    events = []
    for timer in uow.session.exec(query):
        event, _ = record_event(
            uow,
            timer.enrollment_id,
            "timer_fired",
            {"timer": timer.engine_timer},
            f"timer:{timer.id}",
            "carepath",
            now,
        )
        timer.fired_at = now
        uow.session.add(timer)
        assert event.id is not None
        events.append(event.id)
    return events


def unprocessed_events(
    uow: SqlAlchemyUnitOfWork, now: datetime, older_than: timedelta, limit: int = 500
) -> list[int]:
    """Events recorded but not applied for a while: their message was lost; apply them again.

    Not those of an enrollment held up by a quarantined event: they wait for an administrator
    (retrying or rejecting the quarantined event enqueues them)."""
    held = aliased(PathwayEvent)
    blocked = (
        select(held.id)
        .where(held.enrollment_id == PathwayEvent.enrollment_id)
        .where(col(held.quarantined_at).is_not(None), col(held.processed_at).is_(None))
        .exists()
    )
    query = (
        select(PathwayEvent.id)
        .where(
            col(PathwayEvent.processed_at).is_(None), PathwayEvent.recorded_at <= now - older_than
        )
        .where(~blocked)
        .order_by(col(PathwayEvent.id))
        .limit(limit)
    )
    return [event_id for event_id in uow.session.exec(query) if event_id is not None]
