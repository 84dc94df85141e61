"""What the engine asks the outside world to do: effects are data, never calls."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CreateTask:
    """Give a task to a role; `record` names what staff must record."""

    task: str
    step: str
    title: str
    role: str
    due: datetime
    priority: str = "routine"
    instructions: str = ""
    record: tuple[str, ...] = ()
    pathway: str = ""


@dataclass(frozen=True)
class UpdateTask:
    """A task's status or due date changed (hold and resume)."""

    task: str
    status: str
    due: datetime | None = None


@dataclass(frozen=True)
class CancelTask:
    """A task is no longer needed."""

    task: str
    reason: str


@dataclass(frozen=True)
class ScheduleTimer:
    """Fire `TimerFired(timer)` at `due`."""

    timer: str
    step: str
    due: datetime


@dataclass(frozen=True)
class CancelTimer:
    """A timer must not fire."""

    timer: str


@dataclass(frozen=True)
class Notify:
    """Send a message to a role."""

    role: str
    text: str
    priority: str = "routine"
    step: str = ""


@dataclass(frozen=True)
class EnrollmentChanged:
    """The enrollment's status changed: on_hold, active, completed, stopped or withdrawn."""

    status: str
    reason: str = ""
    outcome: str | None = None


@dataclass(frozen=True)
class AuditEntry:
    """What happened and why, for the audit log (no PHI: ids, steps and codes only)."""

    action: str
    detail: Mapping[str, Any] = field(default_factory=dict)


Effect = (
    CreateTask
    | UpdateTask
    | CancelTask
    | ScheduleTimer
    | CancelTimer
    | Notify
    | EnrollmentChanged
    | AuditEntry
)
