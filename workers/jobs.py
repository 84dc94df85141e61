"""The jobs, as plain functions of ids: Celery tasks and the in-process worker both run them.

Every job is idempotent (unique event keys, processed markers, version checks), which is
what makes at-least-once delivery, acks_late and redelivery after a crash safe.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from celery.exceptions import SoftTimeLimitExceeded
from sqlalchemy import Engine

from pathways.store.applying import (
    Applied,
    ConcurrentUpdate,
    EventFailed,
    apply_events,
    ready_enrollments,
)
from pathways.store.projections import refresh_projection, stale_projections
from pathways.store.quarantine import record_failure
from pathways.store.settings import settings
from pathways.store.staff_tasks import escalate_overdue
from pathways.store.sweeps import fire_due_timers, unprocessed_events
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork
from pathways.store.webhooks import deliver_due, dispatch_outbox

log = logging.getLogger(__name__)


def recover_after() -> timedelta:
    """How long an event may wait unapplied before its message counts as lost."""
    return timedelta(seconds=settings().recover_after_seconds)


Enqueue = Callable[[int], None]


def now() -> datetime:
    """The clock, read only at the edge (jobs), never inside the engine."""
    return datetime.now(UTC)


def quarantine_after() -> int:
    """How many failed applications set an event aside for an administrator."""
    return max(1, settings().quarantine_after)


BATCH_LIMIT = 64  # enrollments per group commit under a backlog


def apply(engine: Engine, event_id: int, attempts: int = 5, backlog: int = 0) -> Applied:
    """Apply an event (and what precedes it in its enrollment) in one commit.

    With a `backlog` of queued messages the same commit also applies the ready events of
    other enrollments (group commit). The course projection is not refreshed here: the
    refresh_projections sweep does it within a second, once per enrollment however many
    of its events were applied meanwhile."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        also = ready_enrollments(uow.session, min(backlog, BATCH_LIMIT)) if backlog else []
    failed_here: set[int] = set()
    for attempt in range(1, attempts + 1):
        try:
            with SqlAlchemyUnitOfWork(engine) as uow:
                outcomes = apply_events(uow, event_id, now(), also=also, set_aside=failed_here)
            break
        except ConcurrentUpdate:
            log.info("event %s: enrollment changed concurrently (attempt %s)", event_id, attempt)
        except EventFailed as failed:
            with SqlAlchemyUnitOfWork(engine) as uow:
                quarantined = record_failure(
                    uow, failed.event_id, failed.cause, now(), quarantine_after()
                )
            log.warning(
                "event %s failed (%s)%s",
                failed.event_id,
                type(failed.cause).__name__,
                "; quarantined for an administrator" if quarantined else "; will be retried",
            )
            failed_here.add(failed.event_id)  # the others of the unit are not held back by it
    else:
        raise ConcurrentUpdate(f"event {event_id}: still contended after {attempts} attempts")
    mine = next(outcome for outcome in outcomes if outcome.event_id == event_id)
    if event_id in failed_here:
        mine = Applied(event_id, "failed", "its application failed: see the event's attempts")
    log.info("event %s %s (%s in this commit)", event_id, mine.outcome, len(outcomes))
    return mine


def refresh_projections(engine: Engine, limit: int = 200) -> int:
    """Project the courses whose projection lags their state (outside the apply lock)."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        stale = stale_projections(uow.session, limit)
    refreshed = 0
    for enrollment_id in stale:
        with SqlAlchemyUnitOfWork(engine) as uow:
            refreshed += refresh_projection(uow, enrollment_id, now())
    return refreshed


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


def deliver(
    engine: Engine, interrupts: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)
) -> int:
    """Post the due deliveries (the clock is read at each attempt, not once per run).

    A Celery soft time limit ends the run mid-post without counting an attempt."""
    return deliver_due(engine, now, interrupts=interrupts).delivered
