"""What beat runs: due timers become events (every second); lost events are found again."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from pathways.runtime.definition import Definition
from pathways.store.definitions import pinned
from pathways.store.enrollments import record_event
from pathways.store.tables import Enrollment, PathwayEvent, StaffTask, Timer
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


@dataclass(frozen=True)
class NextWork:
    """What an active enrollment waits for: its oldest open staff task and its next timer."""

    definition: Definition
    task: StaffTask | None  # ready or in progress, the oldest first
    timer: Timer | None


def next_work(session: Session, enrollment_id: str) -> NextWork | None:
    """What comes next for an enrollment worked by hand (the demo, the bench's seed); None
    once it is not active."""
    enrollment = session.get(Enrollment, enrollment_id)
    assert enrollment is not None, f"no enrollment {enrollment_id}"
    if enrollment.status != "active":
        return None
    task = session.exec(
        select(StaffTask)
        .where(
            StaffTask.enrollment_id == enrollment_id,
            col(StaffTask.status).in_(("ready", "in-progress")),
        )
        .order_by(col(StaffTask.created_at), col(StaffTask.id))
    ).first()
    return NextWork(pinned(session, enrollment), task, next_timer(session, enrollment_id))


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
