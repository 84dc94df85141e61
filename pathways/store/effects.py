"""Carrying out the engine's effects as rows, inside the unit of work that applied the event."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

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


def write_effects(
    session: Session, enrollment: Enrollment, effects: list[Effect], actor: str, now: datetime
) -> None:
    """Write what the engine asked for: tasks, timers, notifications, status and audit."""
    for effect in effects:
        if isinstance(effect, CreateTask):
            _create_task(session, enrollment, effect, actor, now)
        elif isinstance(effect, UpdateTask):
            task = engine_task(session, enrollment.id, effect.task)
            status = effect.status
            if status == "ready" and task.assignee:
                status = "in-progress"  # resumed work goes back to whoever had claimed it
            if effect.due is not None:
                task.due_at = effect.due
                task.escalated_at = None  # a new deadline: escalate again if it passes
            set_status(
                session,
                task,
                status,
                actor,
                now,
                "enrollment on hold" if status == "on-hold" else None,
            )
        elif isinstance(effect, CancelTask):
            set_status(
                session,
                engine_task(session, enrollment.id, effect.task),
                "cancelled",
                actor,
                now,
                effect.reason[:300],
            )
        elif isinstance(effect, ScheduleTimer):
            session.add(
                Timer(
                    id=f"{enrollment.id}:{effect.timer}",
                    enrollment_id=enrollment.id,
                    engine_timer=effect.timer,
                    step=effect.step,
                    due_at=effect.due,
                )
            )
        elif isinstance(effect, CancelTimer):
            timer = session.get(Timer, f"{enrollment.id}:{effect.timer}")
            if timer is not None and timer.fired_at is None:
                timer.cancelled_at = now
                session.add(timer)
        elif isinstance(effect, Notify):
            outbox(
                session,
                enrollment.id,
                "notification",
                effect.role,
                {"step": effect.step, "priority": effect.priority},
                now,
                detail=effect.text,
            )
        elif isinstance(effect, EnrollmentChanged):
            outbox(
                session,
                enrollment.id,
                "enrollment_changed",
                None,
                {"status": effect.status, "outcome": effect.outcome},
                now,
            )
        elif isinstance(effect, AuditEntry):
            audit(
                session,
                actor,
                effect.action,
                "enrollment",
                enrollment.id,
                now,
                str(effect.detail.get("reason") or "") or None,
                dict(effect.detail),
            )


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
