"""The jobs, as plain functions of ids: Celery tasks and the in-process worker both run them.

Every job is idempotent (unique event keys, processed markers, version checks), which is
what makes at-least-once delivery, acks_late and redelivery after a crash safe.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from pathways.store.enrollments import Applied, ConcurrentUpdate, apply_event
from pathways.store.staff_tasks import escalate_overdue
from pathways.store.sweeps import fire_due_timers, unprocessed_events
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhooks import deliver_due, dispatch_outbox

log = logging.getLogger(__name__)


def recover_after() -> timedelta:
    """How long an event may wait unapplied before its message counts as lost."""
    return timedelta(seconds=float(os.environ.get("CAREPATH_RECOVER_AFTER_SECONDS", "30")))


Enqueue = Callable[[int], None]


def now() -> datetime:
    """The clock, read only at the edge (jobs), never inside the engine."""
    return datetime.now(UTC)


def apply(engine: Engine, event_id: int, attempts: int = 5) -> Applied:
    """Apply one event, retrying when another worker changed the enrollment first."""
    for attempt in range(1, attempts + 1):
        try:
            with SqlAlchemyUnitOfWork(engine) as uow:
                applied = apply_event(uow, event_id, now())
            log.info("event %s %s", event_id, applied.outcome)
            return applied
        except ConcurrentUpdate:
            log.info("event %s: enrollment changed concurrently (attempt %s)", event_id, attempt)
    raise ConcurrentUpdate(f"event {event_id}: still contended after {attempts} attempts")


def fire_timers(engine: Engine, enqueue: Enqueue) -> int:
    """Turn due timers into events, then ask for each to be applied (after the commit)."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        event_ids = fire_due_timers(uow, now())
    for event_id in event_ids:
        enqueue(event_id)
    return len(event_ids)


def recover(engine: Engine, enqueue: Enqueue) -> int:
    """Re-enqueue events whose message was lost (the broker is a nudge, not the truth)."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        event_ids = unprocessed_events(uow, now(), recover_after())
    for event_id in event_ids:
        enqueue(event_id)
    if event_ids:
        log.warning("re-enqueued %s unprocessed event(s)", len(event_ids))
    return len(event_ids)


def escalate(engine: Engine) -> int:
    """Escalate tasks that passed their due date to the navigator."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        return escalate_overdue(uow, now())


def dispatch(engine: Engine) -> int:
    """A sweep: fan new outbox messages out into one delivery per matching subscriber."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        created = dispatch_outbox(uow.session, now())
        uow.commit()
    return created


def deliver(engine: Engine, interrupts: tuple[type[BaseException], ...] = ()) -> int:
    """Post the due deliveries (the clock is read at each attempt, not once per run)."""
    return deliver_due(engine, now, interrupts=interrupts).delivered
