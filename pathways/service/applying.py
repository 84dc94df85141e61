"""Handlers that apply recorded events, and the administrator's way out of a quarantine.

ApplyEvents is the worker's one write: the event, the earlier unapplied events of its
enrollment (recording order) and, under a backlog, other enrollments' ready events, all in
one commit. An event whose application fails is counted in a commit of its own and set
aside, so the rest of the batch is applied without it; after `quarantine_after` failures it
waits for an administrator (RetryEvent, RejectEvent) instead of looping.
"""

from __future__ import annotations

import logging

from pathways.service.commands import ApplyEvents, RejectEvent, RetryEvent
from pathways.service.context import Context
from pathways.store.applying import (
    Applied,
    ConcurrentUpdate,
    EventFailed,
    apply_events,
    ready_enrollments,
    settled_already,
)
from pathways.store.quarantine import record_failure, reject_event, retry_event
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)
BATCH_LIMIT = 64  # enrollments per group commit under a backlog
ATTEMPTS = 5  # tries when another worker changed the enrollment meanwhile
WRITTEN = ("applied", "rejected")  # outcomes with rows to commit; the others wrote nothing


def apply(command: ApplyEvents, context: Context) -> Applied:
    """Apply an event (and what precedes it in its enrollment) in one commit.

    The course projection is not refreshed here: the RefreshProjections sweep does it
    within a second, once per enrollment however many of its events were applied."""
    event_id = command.event_id
    failed_here: set[int] = set()
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with context.unit_of_work() as uow:
                settled = settled_already(uow.session, event_id)
                if settled is not None:  # applied by an earlier message's commit
                    log.info("event %s %s", event_id, settled.outcome)
                    return settled
                outcomes = apply_events(
                    uow,
                    event_id,
                    context.clock(),
                    also=_batch(uow, _backlog(command, context)),
                    set_aside=failed_here,
                )
                if any(outcome.outcome in WRITTEN for outcome in outcomes):
                    uow.commit()
            break
        except ConcurrentUpdate:
            log.info("event %s: enrollment changed concurrently (attempt %s)", event_id, attempt)
        except EventFailed as failed:
            _count_failure(failed, context)
            failed_here.add(failed.event_id)  # the others of the unit are not held back by it
    else:
        raise ConcurrentUpdate(f"event {event_id}: still contended after {ATTEMPTS} attempts")
    mine = next(outcome for outcome in outcomes if outcome.event_id == event_id)
    if event_id in failed_here:
        mine = Applied(event_id, "failed", "its application failed: see the event's attempts")
    log.info("event %s %s (%s in this commit)", event_id, mine.outcome, len(outcomes))
    return mine


def _backlog(command: ApplyEvents, context: Context) -> int:
    return context.backlog() if command.backlog is None else command.backlog


def _batch(uow: SqlAlchemyUnitOfWork, backlog: int) -> list[str]:
    """Other enrollments with ready events to apply in the same commit: none when idle."""
    return ready_enrollments(uow.session, min(backlog, BATCH_LIMIT)) if backlog else []


def _count_failure(failed: EventFailed, context: Context) -> None:
    with context.unit_of_work() as uow:
        quarantined = record_failure(
            uow, failed.event_id, failed.cause, context.clock(), max(1, context.quarantine_after)
        )
        uow.commit()
    log.warning(
        "event %s failed (%s)%s",
        failed.event_id,
        type(failed.cause).__name__,
        "; quarantined for an administrator" if quarantined else "; will be retried",
    )


def retry(command: RetryEvent, context: Context) -> int:
    """Put a quarantined event back in line, then ask for the enrollment's last waiting event
    (its message applies the retried event and every one after it, in order)."""
    with context.unit_of_work() as uow:
        last = retry_event(uow, command.event_id, command.actor, context.clock())
        uow.commit()
    context.enqueue(last)
    return last


def reject(command: RejectEvent, context: Context) -> int | None:
    """End a quarantined event unapplied, then ask for the events that waited behind it."""
    with context.unit_of_work() as uow:
        following = reject_event(
            uow, command.event_id, command.actor, command.reason, context.clock()
        )
        uow.commit()
    if following is not None:
        context.enqueue(following)
    return following
