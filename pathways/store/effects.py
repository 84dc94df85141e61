"""Carrying out the engine's effects as rows, inside the unit of work that applied the event.

The writers hold Core statements in a `PendingWrites` (see `pathways.store.writes`): no ORM
object is built, no task is read first (a task is named by its enrollment and engine id in
the statement itself), and the rows of one table share one INSERT.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, TypeVar, get_args

from sqlalchemy import ColumnElement, Table, and_, bindparam, case
from sqlalchemy import select as core_select
from sqlmodel import Session

from pathways.runtime.effects import (
    AuditEntry,
    CancelTask,
    CancelTimer,
    CreateTask,
    Effect,
    EnrollmentChanged,
    Notify,
    ScheduleTimer,
    UpdateTask,
)
from pathways.store.changes import change_row, record_change
from pathways.store.tables import (
    PRIORITY_RANK,
    AuditLog,
    Enrollment,
    OutboxMessage,
    StaffTask,
    StaffTaskStatusChange,
    Timer,
)
from pathways.store.writes import Bound, PendingWrites, bound_update

TASKS: Table = StaffTask.__table__  # type: ignore[attr-defined]
TASK_HISTORY: Table = StaffTaskStatusChange.__table__  # type: ignore[attr-defined]
TIMERS: Table = Timer.__table__  # type: ignore[attr-defined]
OUTBOX: Table = OutboxMessage.__table__  # type: ignore[attr-defined]
AUDIT: Table = AuditLog.__table__  # type: ignore[attr-defined]


class UnknownEffect(TypeError):
    """The engine produced an effect that no writer carries out (a programming error)."""


EffectT = TypeVar("EffectT")
Writer = Callable[[PendingWrites, Enrollment, EffectT, str, datetime], None]

# One writer per effect type. `Effect` is a closed union: an effect added to it without a
# writer here fails at import (below), never silently at run time.
WRITERS: dict[type[Any], Writer[Any]] = {}


def _writes(kind: type[EffectT]) -> Callable[[Writer[EffectT]], Writer[EffectT]]:
    """Register the writer of one effect type (typed: it takes that effect)."""

    def register(writer: Writer[EffectT]) -> Writer[EffectT]:
        if kind in WRITERS:
            raise UnknownEffect(f"{kind.__name__} has two writers")
        WRITERS[kind] = writer
        return writer

    return register


def unwritten_effects() -> set[type[Any]]:
    """Effect types of the engine that no writer carries out (empty when complete)."""
    return set(get_args(Effect)) - WRITERS.keys()


def write_effects(
    session: Session,
    enrollment: Enrollment,
    effects: list[Effect],
    actor: str,
    now: datetime,
    writes: PendingWrites | None = None,
) -> None:
    """Write what the engine asked for: tasks, timers, notifications, status and audit.

    Into `writes` when given (the caller sends them); otherwise sent before returning."""
    writers = [WRITERS.get(type(effect)) for effect in effects]
    for effect, writer in zip(effects, writers, strict=True):
        if writer is None:
            raise UnknownEffect(f"no writer for the effect {type(effect).__name__}")
    held = writes if writes is not None else PendingWrites(session)
    for effect, writer in zip(effects, writers, strict=True):
        assert writer is not None
        writer(held, enrollment, effect, actor, now)
    if writes is None:
        held.send()


@_writes(UpdateTask)
def _update_task(
    writes: PendingWrites, enrollment: Enrollment, effect: UpdateTask, actor: str, now: datetime
) -> None:
    changes: dict[str, Any] = {}
    if effect.due is not None:
        changes = {"due_at": effect.due, "escalated_at": None}  # escalate again if it passes
    reason = "enrollment on hold" if effect.status == "on-hold" else None
    status: Bound | str = RESUMED if effect.status == "ready" else effect.status
    task_status(writes, enrollment.id, effect.task, status, actor, now, reason, changes)


def _resumed(prefix: str) -> ColumnElement[str]:
    # resumed work goes back to whoever had claimed it
    claimed = and_(TASKS.c.assignee.is_not(None), TASKS.c.assignee != "")
    return case((claimed, "in-progress"), else_="ready")


RESUMED = Bound("resumed", _resumed, {})


@_writes(CancelTask)
def _cancel_task(
    writes: PendingWrites, enrollment: Enrollment, effect: CancelTask, actor: str, now: datetime
) -> None:
    task_status(writes, enrollment.id, effect.task, "cancelled", actor, now, effect.reason[:300])


@_writes(ScheduleTimer)
def _schedule_timer(
    writes: PendingWrites, enrollment: Enrollment, effect: ScheduleTimer, actor: str, now: datetime
) -> None:
    timer_id = f"{enrollment.id}:{effect.timer}"
    row = {
        "id": timer_id,
        "enrollment_id": enrollment.id,
        "engine_timer": effect.timer,
        "step": effect.step,
        "due_at": effect.due,
        "fired_at": None,
        "cancelled_at": None,
    }
    writes.insert(TIMERS, row, key=("timer", timer_id))


@_writes(CancelTimer)
def _cancel_timer(
    writes: PendingWrites, enrollment: Enrollment, effect: CancelTimer, actor: str, now: datetime
) -> None:
    end_timer(writes, f"{enrollment.id}:{effect.timer}", "cancelled_at", now)


def end_timer(writes: PendingWrites, timer_id: str, column: str, now: datetime) -> None:
    """A timer cancelled or fired (`column`), unless it has fired already."""
    statement = bound_update(TIMERS, {"id": timer_id}, {column: now}, unless_set=("fired_at",))
    writes.update(statement, key=("timer", timer_id))


@_writes(Notify)
def _notify(
    writes: PendingWrites, enrollment: Enrollment, effect: Notify, actor: str, now: datetime
) -> None:
    payload: dict[str, Any] = {"step": effect.step, "priority": effect.priority}
    row = outbox_row(enrollment.id, "notification", effect.role, payload, now, effect.text)
    writes.insert(OUTBOX, row)


@_writes(EnrollmentChanged)
def _enrollment_changed(
    writes: PendingWrites,
    enrollment: Enrollment,
    effect: EnrollmentChanged,
    actor: str,
    now: datetime,
) -> None:
    payload: dict[str, Any] = {"status": effect.status, "outcome": effect.outcome}
    writes.insert(OUTBOX, outbox_row(enrollment.id, "enrollment_changed", None, payload, now))


@_writes(AuditEntry)
def _audit_entry(
    writes: PendingWrites, enrollment: Enrollment, effect: AuditEntry, actor: str, now: datetime
) -> None:
    reason = str(effect.detail.get("reason") or "") or None
    row = audit_row(
        actor, effect.action, "enrollment", enrollment.id, now, reason, dict(effect.detail)
    )
    writes.insert(AUDIT, row)


@_writes(CreateTask)
def _create_task(
    writes: PendingWrites, enrollment: Enrollment, effect: CreateTask, actor: str, now: datetime
) -> None:
    task_id = str(uuid.uuid4())
    row = {
        "id": task_id,
        "enrollment_id": enrollment.id,
        "engine_task": effect.task,
        "step": effect.step,
        "pathway": effect.pathway,
        "title": effect.title[:300],
        "role": effect.role,
        "assignee": None,
        "status": "ready",
        "status_reason": None,
        "priority": effect.priority,
        "priority_rank": PRIORITY_RANK[effect.priority],
        "due_at": effect.due,
        "instructions": effect.instructions,
        "record_fields": list(effect.record),
        "recorded": None,
        "escalated_at": None,
        "created_at": now,
        "updated_at": now,
    }
    writes.insert(TASKS, row, key=("task", enrollment.id, effect.task))
    _task_history(writes, task_id, enrollment.id, "ready", actor, now, None)
    payload = {
        "task": task_id,
        "step": effect.step,
        "priority": effect.priority,
        "due_at": effect.due.isoformat(),
    }
    writes.insert(OUTBOX, outbox_row(enrollment.id, "task_created", effect.role, payload, now))


def task_status(
    writes: PendingWrites,
    enrollment_id: str,
    engine_id: str,
    status: Bound | str,
    actor: str,
    now: datetime,
    reason: str | None = None,
    changes: dict[str, Any] | None = None,
) -> None:
    """Set the FHIR status of the task the engine knows by `engine_id`, keeping when, who, why.

    One UPDATE; its history and change-log rows name the task by a subquery, so nothing is
    read first. A task that does not exist leaves them a NULL id, which the database refuses.
    `status` may be worked out from the task's row (`RESUMED`)."""
    mine = {"enrollment_id": enrollment_id, "engine_task": engine_id}
    values = {"status": status, "status_reason": reason, "updated_at": now, **(changes or {})}
    writes.update(bound_update(TASKS, mine, values), key=("task", enrollment_id, engine_id))
    task_id = Bound("task_id", partial(_of_task, TASKS.c.id), mine)
    if isinstance(status, Bound):  # an expression over the task's row: ask the row
        status = Bound(("task", status.shape), partial(_of_task, status.build("")), mine)
    _task_history(writes, task_id, enrollment_id, status, actor, now, reason)


def _of_task(value: ColumnElement[Any], prefix: str) -> ColumnElement[Any]:
    """`value` read from the task named by its enrollment and engine id (a scalar subquery)."""
    return (
        core_select(value)
        .where(
            TASKS.c.enrollment_id == bindparam(f"{prefix}enrollment_id"),
            TASKS.c.engine_task == bindparam(f"{prefix}engine_task"),
        )
        .scalar_subquery()
    )


def _task_history(
    writes: PendingWrites,
    task_id: Any,
    enrollment_id: str,
    status: Any,
    actor: str,
    now: datetime,
    reason: str | None,
) -> None:
    row = {"task_id": task_id, "status": status, "at": now, "actor": actor, "reason": reason}
    writes.insert(TASK_HISTORY, row)
    # Task created or its status set: the change feed (GET /changes) hears of it too.
    writes.insert(*change_row("task", task_id, enrollment_id, status, None, now))


def set_status(
    session: Session,
    task: StaffTask,
    status: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Change a loaded task's FHIR status, keeping when, who and why (staff actions)."""
    task.status, task.status_reason, task.updated_at = status, reason, now
    session.add(task)
    session.add(
        StaffTaskStatusChange(
            task_id=task.id, status=task.status, at=now, actor=actor, reason=reason
        )
    )
    record_change(session, "task", task.id, task.enrollment_id, task.status, None, now)


def outbox_row(
    enrollment_id: str,
    event_type: str,
    role: str | None,
    payload: dict[str, Any],
    now: datetime,
    detail: str | None = None,
) -> dict[str, Any]:
    """A notification's row: the payload (ids and codes) goes to webhooks, the detail stays."""
    return {
        "id": str(uuid.uuid4()),
        "enrollment_id": enrollment_id,
        "event_type": event_type,
        "role": role,
        "payload": payload,
        "detail": detail,
        "created_at": now,
        "dispatched_at": None,
    }


def outbox(
    session: Session,
    enrollment_id: str,
    event_type: str,
    role: str | None,
    payload: dict[str, Any],
    now: datetime,
    detail: str | None = None,
) -> None:
    """Queue a notification: the payload (ids and codes) goes to webhooks, the detail stays."""
    row = outbox_row(enrollment_id, event_type, role, payload, now, detail)
    session.add(OutboxMessage.model_validate(row))


def audit_row(
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    now: datetime,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An audit log row: who did what to which record, when and why."""
    return {
        "actor": actor,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "at": now,
        "reason": reason,
        "detail": detail or {},
    }


def audit(
    session: Session,
    actor: str,
    action: str,
    target_type: str,
    target_id: str,
    now: datetime,
    reason: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit log."""
    row = audit_row(actor, action, target_type, target_id, now, reason, detail)
    session.add(AuditLog.model_validate(row))


if unwritten_effects():  # at import: the API, the workers and the tests all refuse to start
    raise UnknownEffect(
        "effects without a writer: " + ", ".join(sorted(k.__name__ for k in unwritten_effects()))
    )
