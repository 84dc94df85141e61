"""Staff work queues and what staff do with a task: claim, complete, skip, reassign, cancel."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, TypedDict, Unpack

from sqlalchemy import tuple_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from pathways.model import Field, Handler, Task
from pathways.runtime.checks import check_recorded
from pathways.runtime.definition import Definition
from pathways.store.changes import record_enrollment_change
from pathways.store.definitions import pinned
from pathways.store.effects import audit, outbox, set_status
from pathways.store.enrollments import NotFound, record_event
from pathways.store.tables import (
    OPEN_TASK_STATUSES,
    Enrollment,
    PathwayEvent,
    StaffTask,
)
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


class TaskConflict(Exception):
    """The task is not in a state that allows this (e.g. already completed)."""


def _open_task(session: Session, task_id: str, lock: bool = False) -> StaffTask:
    query = select(StaffTask).where(StaffTask.id == task_id)
    bind = session.get_bind()
    if lock and bind.dialect.name == "postgresql":
        # Two claims at once: the second sees the first. Only the task is locked: the API
        # never locks an enrollment, so it never waits on a worker (nor a worker on it).
        query = query.with_for_update()
    task = session.exec(query).first()
    if task is None:
        raise NotFound(f"no task {task_id}")
    if task.status not in OPEN_TASK_STATUSES:
        raise TaskConflict(f"task {task_id} is {task.status}")
    return task


def claim_task(
    uow: SqlAlchemyUnitOfWork, task_id: str, assignee: str, now: datetime, actor: str | None = None
) -> StaffTask:
    """A task is taken by `assignee` (FHIR in-progress); `actor` is who did it, if not them."""
    actor = actor or assignee
    task = _open_task(uow.session, task_id, lock=True)
    if task.status == "on-hold":
        raise TaskConflict(f"task {task_id} is on hold with its enrollment")
    if task.assignee and task.assignee != assignee:
        raise TaskConflict(f"task {task_id} is claimed by {task.assignee}: reassign it first")
    task.assignee = assignee
    set_status(uow.session, task, "in-progress", actor, now)
    audit(uow.session, actor, "task_claimed", "task", task.id, now, None, {"assignee": assignee})
    return task


def reassign_task(
    uow: SqlAlchemyUnitOfWork,
    task_id: str,
    assignee: str | None,
    actor: str,
    reason: str,
    now: datetime,
) -> StaffTask:
    """Give a task to someone else (or back to the role's queue with no assignee)."""
    task = _open_task(uow.session, task_id, lock=True)
    previous, task.assignee = task.assignee, assignee
    if task.status != "on-hold":
        set_status(uow.session, task, "in-progress" if assignee else "ready", actor, now, reason)
    audit(
        uow.session,
        actor,
        "task_reassigned",
        "task",
        task.id,
        now,
        reason,
        {"from": previous, "to": assignee},
    )
    return task


def _key(task: StaffTask, action: str, content: object) -> str:
    # The same request twice is one event; corrected data after a rejection is a new one.
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return f"task:{task.id}:{action}:{digest[:16]}"


def complete_task(
    uow: SqlAlchemyUnitOfWork,
    task_id: str,
    data: dict[str, Any],
    actor: str,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[PathwayEvent, bool]:
    """Record the completion as an event, once its data fits the task's form."""
    task = _open_task(uow.session, task_id)
    check_recorded(task_form(uow.session, task), data, projection=False)  # bad input stops here
    key = idempotency_key or _key(task, "complete", data)
    event = {"task": task.engine_task, "data": data}
    return record_event(uow, task.enrollment_id, "task_completed", event, key, actor, now)


def task_form(session: Session, task: StaffTask) -> tuple[Field, ...]:
    """The fields a task records, from the pinned definition (sub-pathways and handlers too)."""
    enrollment = session.get(Enrollment, task.enrollment_id)
    assert enrollment is not None
    pending = [pinned(session, enrollment)]
    while pending:
        definition = pending.pop()
        if definition.key == task.pathway:
            step = definition.steps.get(task.step)
            if isinstance(step, Task):
                return step.record
            handler = _handler(definition, task.step)
            return handler.task.record if handler and handler.task else ()
        pending.extend(definition.callees.values())
    return ()


def _handler(definition: Definition, where: str) -> Handler | None:
    # a handler's task is named on.EVENT[INDEX]
    if not where.startswith("on.") or "[" not in where:
        return None
    event, _, index = where[3:].rstrip("]").partition("[")
    handlers = definition.pathway.handlers.get(event, ())
    return handlers[int(index)] if index.isdigit() and int(index) < len(handlers) else None


def skip_task(
    uow: SqlAlchemyUnitOfWork, task_id: str, reason: str, actor: str, now: datetime
) -> tuple[PathwayEvent, bool]:
    """Record that a task is skipped, and why."""
    task = _open_task(uow.session, task_id)
    event = {"task": task.engine_task, "reason": reason}
    key = _key(task, "skip", reason)
    return record_event(uow, task.enrollment_id, "task_skipped", event, key, actor, now)


def cancel_task(
    uow: SqlAlchemyUnitOfWork, task_id: str, reason: str, actor: str, now: datetime
) -> tuple[PathwayEvent, bool]:
    """Cancel a task entered in error: the pathway treats it as skipped, with the reason."""
    return skip_task(uow, task_id, f"cancelled: {reason}", actor, now)


QueuePosition = tuple[datetime, int, str]  # due, priority rank, id: a queue's keyset


class QueueFilters(TypedDict, total=False):
    """Which open tasks a queue shows, and where its page starts (see `queue_query`)."""

    role: str | None
    assignee: str | None
    enrollment: str | None
    status: str | None
    overdue: bool
    after: QueuePosition | None


def queue(
    session: Session, now: datetime, *, limit: int = 50, **filters: Unpack[QueueFilters]
) -> list[StaffTask]:
    """Open tasks for a role, a person or an enrollment, due first, then by priority; the
    page after `after` (the last row of the previous page) when given."""
    return list(session.exec(queue_query(now, **filters).limit(limit)))


def queue_query(
    now: datetime,
    *,
    role: str | None = None,
    assignee: str | None = None,
    enrollment: str | None = None,
    status: str | None = None,
    overdue: bool = False,
    after: QueuePosition | None = None,
) -> SelectOfScalar[StaffTask]:
    """The query of `queue`, unlimited. Its order is the one ix_task_open_role_queue and
    ix_task_open_assignee_queue hold after their first column, so those partial indexes
    answer a page and its keyset condition alike, without a sort."""
    query = select(StaffTask)
    if role is not None:
        query = query.where(StaffTask.role == role)  # ix_task_open_role_queue
    if assignee is not None:
        query = query.where(StaffTask.assignee == assignee)  # ix_task_open_assignee_queue
    if enrollment is not None:
        query = query.where(StaffTask.enrollment_id == enrollment)
    if status is not None:
        query = query.where(StaffTask.status == status)
    else:
        query = query.where(col(StaffTask.status).in_(OPEN_TASK_STATUSES))
    if overdue:
        query = query.where(StaffTask.due_at < now)  # ix_task_overdue
    # due (never null for a task), then urgency, then id
    key = tuple_(col(StaffTask.due_at), col(StaffTask.priority_rank), col(StaffTask.id))
    if after is not None:
        query = query.where(key > after)
    return query.order_by(*key.clauses)


def escalate_overdue(uow: SqlAlchemyUnitOfWork, now: datetime, limit: int = 200) -> int:
    """Tell the navigator about tasks past due and flag their enrollments (once per task).

    Locks in the one order used everywhere: the enrollments first (those a worker holds are
    left for the next run), then their tasks."""
    session = uow.session
    late = (
        col(StaffTask.status).in_(("ready", "in-progress")),
        StaffTask.due_at < now,
        col(StaffTask.escalated_at).is_(None),
    )
    candidates = session.exec(
        select(StaffTask.id, StaffTask.enrollment_id)
        .where(*late)
        .order_by(col(StaffTask.due_at))
        .limit(limit)
    ).all()
    if not candidates:
        return 0
    enrollments_query = (
        select(Enrollment)
        .where(col(Enrollment.id).in_(sorted({owner for _, owner in candidates})))
        .order_by(col(Enrollment.id))
    )
    tasks_query = select(StaffTask).where(
        col(StaffTask.id).in_([task_id for task_id, _ in candidates]), *late
    )
    if uow.locks_rows:
        enrollments_query = enrollments_query.with_for_update(key_share=True, skip_locked=True)
        tasks_query = tasks_query.with_for_update()
    enrollments = {row.id: row for row in session.exec(enrollments_query)}
    tasks = [
        task
        for task in session.exec(tasks_query.order_by(col(StaffTask.id)))
        if task.enrollment_id in enrollments
    ]
    for task in tasks:
        _escalate(session, task, now)
        enrollment = enrollments[task.enrollment_id]
        if enrollment.status == "active" and enrollment.flag != "overdue":
            enrollment.flag = "overdue"
            session.add(enrollment)
            record_enrollment_change(session, enrollment, now)
    return len(tasks)


def _escalate(session: Session, task: StaffTask, now: datetime) -> None:
    task.escalated_at = now
    session.add(task)
    outbox(
        session,
        task.enrollment_id,
        "task_overdue",
        "navigator",
        {"task": task.id, "step": task.step, "role": task.role, "due_at": task.due_at.isoformat()},
        now,
    )
    audit(
        session,
        "carepath",
        "task_escalated",
        "task",
        task.id,
        now,
        "past its due date",
        {"role": task.role},
    )
