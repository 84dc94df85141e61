"""Handlers for what beat runs: due timers, lost messages, overdue work, lagging projections,
the dashboard's summary.

Each is safe to run twice at once (rows claimed with SKIP LOCKED, keys unique), so a second
beat or an overlapping run changes nothing twice.
"""

from __future__ import annotations

import logging

from pathways.service.commands import (
    EscalateOverdueTasks,
    FireDueTimers,
    RefreshDashboardSummary,
    RefreshProjections,
    RequeueLostEvents,
)
from pathways.service.context import Context
from pathways.store.projections import refresh_projection, stale_projections
from pathways.store.staff_tasks import escalate_overdue
from pathways.store.summary import Summary, compute_summary, save_summary
from pathways.store.sweeps import fire_due_timers, unprocessed_events

log = logging.getLogger(__name__)


def fire_timers(command: FireDueTimers, context: Context) -> int:
    """Due timers become events (once: the key is the timer's id), applied after the commit."""
    with context.unit_of_work() as uow:
        event_ids = fire_due_timers(uow, context.clock())
        uow.commit()
    for event_id in event_ids:
        context.enqueue(event_id)
    return len(event_ids)


def requeue_lost(command: RequeueLostEvents, context: Context) -> int:
    """Ask again for events long unapplied: the broker is a nudge, the database the truth."""
    with context.unit_of_work() as uow:
        event_ids = unprocessed_events(uow, context.clock(), context.recover_after)
    for event_id in event_ids:
        context.enqueue(event_id)
    if event_ids:
        log.warning("re-enqueued %s unprocessed event(s)", len(event_ids))
    return len(event_ids)


def escalate(command: EscalateOverdueTasks, context: Context) -> int:
    """Tasks past due are escalated to the navigator, once each; their enrollments flagged."""
    with context.unit_of_work() as uow:
        escalated = escalate_overdue(uow, context.clock())
        uow.commit()
    return escalated


def refresh(command: RefreshProjections, context: Context) -> int:
    """Project each lagging course in a short unit of its own, outside the apply lock."""
    with context.unit_of_work() as uow:
        stale = stale_projections(uow.session, command.limit)
    refreshed = 0
    for enrollment_id in stale:
        with context.unit_of_work() as uow:
            if refresh_projection(uow, enrollment_id, context.clock()):
                uow.commit()
                refreshed += 1
    return refreshed


def summarise(command: RefreshDashboardSummary, context: Context) -> Summary:
    """The dashboard's figures computed once for every reader, stored with when they were."""
    with context.unit_of_work() as uow:
        summary = compute_summary(uow.session, context.clock())
        save_summary(uow.session, summary)
        uow.commit()
    return summary
