"""Carrying out the engine's effects as rows, inside the unit of work that applied the event."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, get_args

from sqlmodel import Session, select

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
from pathways.store.changes import record_change
from pathways.store.tables import (
    PRIORITY_RANK,
    AuditLog,
    Enrollment,
    OutboxMessage,
    StaffTask,
    StaffTaskStatusChange,
    Timer,
)


class UnknownEffect(TypeError):
    """The engine produced an effect that no writer carries out (a programming error)."""


EffectT = TypeVar("EffectT")
Writer = Callable[[Session, Enrollment, EffectT, str, datetime], None]

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
    session: Session, enrollment: Enrollment, effects: list[Effect], actor: str, now: datetime
) -> None:
    """Write what the engine asked for: tasks, timers, notifications, status and audit."""
    for effect in effects:
        writer = WRITERS.get(type(effect))
        if writer is None:
            raise UnknownEffect(f"no writer for the effect {type(effect).__name__}")
        writer(session, enrollment, effect, actor, now)


@_writes(UpdateTask)
def _update_task(
    session: Session, enrollment: Enrollment, effect: UpdateTask, actor: str, now: datetime
) -> None:
    task = engine_task(session, enrollment.id, effect.task)
    status = effect.status
    if status == "ready" and task.assignee:
        status = "in-progress"  # resumed work goes back to whoever had claimed it
    if effect.due is not None:
        task.due_at = effect.due
        task.escalated_at = None  # a new deadline: escalate again if it passes
    set_status(
        session, task, status, actor, now, "enrollment on hold" if status == "on-hold" else None
    )


@_writes(CancelTask)
def _cancel_task(
    session: Session, enrollment: Enrollment, effect: CancelTask, actor: str, now: datetime
) -> None:
    task = engine_task(session, enrollment.id, effect.task)
    set_status(session, task, "cancelled", actor, now, effect.reason[:300])


@_writes(ScheduleTimer)
def _schedule_timer(
    session: Session, enrollment: Enrollment, effect: ScheduleTimer, actor: str, now: datetime
) -> None:
    session.add(
        Timer(
            id=f"{enrollment.id}:{effect.timer}",
            enrollment_id=enrollment.id,
            engine_timer=effect.timer,
            step=effect.step,
            due_at=effect.due,
        )
    )


@_writes(CancelTimer)
def _cancel_timer(
    session: Session, enrollment: Enrollment, effect: CancelTimer, actor: str, now: datetime
) -> None:
    timer = session.get(Timer, f"{enrollment.id}:{effect.timer}")
    if timer is not None and timer.fired_at is None:
        timer.cancelled_at = now
        session.add(timer)


@_writes(Notify)
def _notify(
    session: Session, enrollment: Enrollment, effect: Notify, actor: str, now: datetime
) -> None:
    payload: dict[str, Any] = {"step": effect.step, "priority": effect.priority}
    outbox(session, enrollment.id, "notification", effect.role, payload, now, detail=effect.text)


@_writes(EnrollmentChanged)
def _enrollment_changed(
    session: Session, enrollment: Enrollment, effect: EnrollmentChanged, actor: str, now: datetime
) -> None:
    payload: dict[str, Any] = {"status": effect.status, "outcome": effect.outcome}
    outbox(session, enrollment.id, "enrollment_changed", None, payload, now)


@_writes(AuditEntry)
def _audit_entry(
    session: Session, enrollment: Enrollment, effect: AuditEntry, actor: str, now: datetime
) -> None:
    reason = str(effect.detail.get("reason") or "") or None
    audit(
        session, actor, effect.action, "enrollment", enrollment.id, now, reason, dict(effect.detail)
    )


@_writes(CreateTask)
def _create_task(
    session: Session, enrollment: Enrollment, effect: CreateTask, actor: str, now: datetime
) -> None:
    task = StaffTask.model_validate(
        {
            "id": str(uuid.uuid4()),
            "enrollment_id": enrollment.id,
            "engine_task": effect.task,
            "step": effect.step,
            "pathway": effect.pathway,
            "title": effect.title[:300],
            "role": effect.role,
            "status": "ready",
            "priority": effect.priority,
            "priority_rank": PRIORITY_RANK[effect.priority],
            "due_at": effect.due,
            "instructions": effect.instructions,
            "record_fields": list(effect.record),
            "created_at": now,
            "updated_at": now,
        }
    )
    session.add(task)
    _history(session, task, actor, now, None)
    outbox(
        session,
        enrollment.id,
        "task_created",
        effect.role,
        {
            "task": task.id,
            "step": effect.step,
            "priority": effect.priority,
            "due_at": effect.due.isoformat(),
        },
        now,
    )


def engine_task(session: Session, enrollment_id: str, engine_id: str) -> StaffTask:
    """The staff task the engine knows by its own id."""
    task = session.exec(
        select(StaffTask).where(
            StaffTask.enrollment_id == enrollment_id, StaffTask.engine_task == engine_id
        )
    ).one()
    return task


def set_status(
    session: Session,
    task: StaffTask,
    status: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> None:
    """Change a task's FHIR status, keeping when, who and why."""
    task.status, task.status_reason, task.updated_at = status, reason, now
    session.add(task)
    _history(session, task, actor, now, reason)


def _history(
    session: Session, task: StaffTask, actor: str, now: datetime, reason: str | None
) -> None:
    session.add(
        StaffTaskStatusChange(
            task_id=task.id, status=task.status, at=now, actor=actor, reason=reason
        )
    )
    # Task created or its status set: the change feed (GET /changes) hears of it too.
    record_change(session, "task", task.id, task.enrollment_id, task.status, None, now)


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
    session.add(
        OutboxMessage.model_validate(
            {
                "id": str(uuid.uuid4()),
                "enrollment_id": enrollment_id,
                "event_type": event_type,
                "role": role,
                "payload": payload,
                "detail": detail,
                "created_at": now,
            }
        )
    )


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
    session.add(
        AuditLog.model_validate(
            {
                "actor": actor,
                "action": action,
                "target_type": target_type,
                "target_id": target_id,
                "at": now,
                "reason": reason,
                "detail": detail or {},
            }
        )
    )


if unwritten_effects():  # at import: the API, the workers and the tests all refuse to start
    raise UnknownEffect(
        "effects without a writer: " + ", ".join(sorted(k.__name__ for k in unwritten_effects()))
    )
