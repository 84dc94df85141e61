"""Handlers that record what people and systems report, for a worker to apply.

Each stores one event (once per idempotency key: a retry finds the first), commits, and only
then asks a worker to apply it, with the event's id and nothing else. If the broker is down
the event is still stored and the answer still "accepted": the recovery sweep enqueues
events left unapplied once the broker is back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from pathways.service.commands import Accepted, CompleteTask, RecordEvent, SkipTask
from pathways.service.context import Context
from pathways.store.enrollments import record_event
from pathways.store.staff_tasks import complete_task, skip_task
from pathways.store.tables import PathwayEvent
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork

log = logging.getLogger(__name__)
Record = Callable[[SqlAlchemyUnitOfWork, datetime], tuple[PathwayEvent, bool]]


def record(command: RecordEvent, context: Context) -> Accepted:
    """Store an event for an enrollment; a person may send only what the pathway expects."""
    return _record_then_enqueue(
        context,
        lambda uow, now: record_event(
            uow,
            command.enrollment_id,
            command.type,
            command.data,
            command.idempotency_key,
            command.actor,
            now,
            from_person=command.from_person,
        ),
    )


def complete(command: CompleteTask, context: Context) -> Accepted:
    """Store a task's completion, once its values fit the task's form."""
    return _record_then_enqueue(
        context,
        lambda uow, now: complete_task(
            uow, command.task_id, command.data, command.actor, now, command.idempotency_key
        ),
    )


def skip(command: SkipTask, context: Context) -> Accepted:
    """Store that a task is skipped, and why."""
    return _record_then_enqueue(
        context,
        lambda uow, now: skip_task(uow, command.task_id, command.reason, command.actor, now),
    )


def _record_then_enqueue(context: Context, record: Record) -> Accepted:
    with context.unit_of_work() as uow:
        row, created = record(uow, context.clock())
        uow.commit()
    accepted = Accepted(row, created)
    if created:
        try:
            context.enqueue(accepted.event_id)  # after the commit: the message carries the id
        except Exception as error:
            log.warning(
                "event %s of enrollment %s is stored but not enqueued (%s); "
                "the recovery sweep will enqueue it",
                accepted.event_id,
                row.enrollment_id,
                type(error).__name__,
            )
    return accepted
