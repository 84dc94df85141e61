"""/tasks: staff work queues, and claiming, completing, skipping and reassigning a task.

Completions and skips are events (202): a worker applies them, and the engine checks the
recorded data then. GET /tasks/{id} shows each one's outcome, with the reason of a rejection.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, col, select

from api.accepted import EventAccepted
from api.cursors import decoded, encoded
from api.deps import (
    Navigator,
    NowDep,
    PatientViewDep,
    QueueReader,
    Reader,
    ServiceDep,
    SessionDep,
    Worker,
)
from api.routes.history import EventOut, event_out
from api.security import PRIVILEGED, Principal
from pathways.model import Field as Declared
from pathways.service.commands import ClaimTask, CompleteTask, ReassignTask, SkipTask
from pathways.store.enrollments import NotFound
from pathways.store.staff_tasks import queue, task_form
from pathways.store.tables import (
    OPEN_TASK_STATUSES,
    Enrollment,
    PathwayEvent,
    StaffTask,
    StaffTaskStatusChange,
)

router = APIRouter(prefix="/tasks", tags=["tasks"])

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Person = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
TaskStatus = Literal["ready", "in-progress", "on-hold", "completed", "cancelled"]


class TaskOut(BaseModel):
    """A staff task as its role sees it (no patient name or MRN)."""

    id: str
    enrollment_id: str
    step: str
    pathway: str
    title: str
    role: str
    assignee: str | None
    status: str
    status_reason: str | None
    priority: str
    due_at: datetime
    overdue: bool
    record_fields: list[str]
    instructions: str


class TaskPage(BaseModel):
    """A page of a queue; pass `next_cursor` back as `cursor` for the next (null: the last)."""

    items: list[TaskOut]
    next_cursor: str | None


class StatusChangeOut(BaseModel):
    """One change of a task's status: when, who and why."""

    status: str
    at: datetime
    actor: str
    reason: str | None


class FormField(BaseModel):
    """One value the task records, as the pathway declares it: what a form needs to ask it."""

    name: str
    type: str  # integer, number, boolean, string, date, duration
    required: bool
    enum: list[str]
    minimum: float | None
    maximum: float | None
    unit: str
    description: str


class TaskDetail(TaskOut):
    """A task with its form, what was recorded, its status history, its completions and skips."""

    form: list[FormField]
    recorded: dict[str, Any] | None
    history: list[StatusChangeOut]
    events: list[EventOut]


class ClaimIn(BaseModel):
    """Who takes the task (the caller when left out)."""

    model_config = ConfigDict(extra="forbid")
    assignee: Person | None = None


class CompletionIn(BaseModel):
    """The values the task records, and the caller's idempotency key (optional)."""

    model_config = ConfigDict(extra="forbid")
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: str | None = Field(default=None, min_length=1, max_length=200)


class SkipIn(BaseModel):
    """Why the task is skipped."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason


class ReassignIn(BaseModel):
    """Who gets the task (null: back to the role's queue), and why."""

    model_config = ConfigDict(extra="forbid")
    assignee: Person | None
    reason: Reason


def _public(task: StaffTask, now: datetime) -> dict[str, Any]:
    overdue = task.due_at < now and task.status in OPEN_TASK_STATUSES
    fields = TaskOut.model_fields.keys() - {"overdue"}
    return {**{name: getattr(task, name) for name in fields}, "overdue": overdue}


def _role_of(session: Session, task_id: str) -> str:
    # The role column only: the store then locks and loads the task itself, fresh.
    role = session.exec(select(StaffTask.role).where(StaffTask.id == task_id)).first()
    if role is None:
        raise NotFound(f"no task {task_id}")
    return role


def _check_works(who: Principal, role: str) -> None:
    if not who.works_role(role):
        raise HTTPException(
            403, f"the {who.role} role may only work {who.role} tasks (this one is for {role})"
        )


@router.get("")
def list_tasks(
    who: QueueReader,
    db: SessionDep,
    now: NowDep,
    role: Annotated[str | None, Query(min_length=1, max_length=60)] = None,
    assignee: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    status: TaskStatus | None = None,
    overdue: bool = False,
    enrollment: Annotated[str | None, Query(min_length=1, max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(min_length=1, max_length=500)] = None,
) -> TaskPage:
    """A role's, a person's or an enrollment's open tasks: soonest due (overdue) first."""
    if who.role not in PRIVILEGED:
        if role not in (None, who.role):
            raise HTTPException(403, f"the {who.role} role may only see the {who.role} queue")
        role = who.role
    elif role is None and assignee is None and enrollment is None:
        raise HTTPException(422, "give role, assignee or enrollment, e.g. /tasks?role=lab")
    after = None
    if cursor is not None:
        position = decoded(cursor, {"due": "time", "rank": "integer", "id": "text"})
        after = (position["due"], position["rank"], position["id"])
    rows = queue(
        db,
        now,
        role=role,
        assignee=assignee,
        enrollment=enrollment,
        status=status,
        overdue=overdue,
        after=after,
        limit=limit + 1,
    )
    items = [TaskOut.model_validate(_public(task, now)) for task in rows[:limit]]
    more = len(rows) > limit
    return TaskPage(items=items, next_cursor=_cursor_after(rows[limit - 1]) if more else None)


def _cursor_after(task: StaffTask) -> str:
    return encoded({"due": task.due_at, "rank": task.priority_rank, "id": task.id})


@router.get("/{task_id}")
def get_task(
    task_id: str, who: Reader, db: SessionDep, view: PatientViewDep, now: NowDep
) -> TaskDetail:
    """A task with its status history and the outcome of each completion or skip sent."""
    task = db.get(StaffTask, task_id)
    if task is None:
        raise NotFound(f"no task {task_id}")
    if who.role not in PRIVILEGED and who.role != task.role:
        raise HTTPException(403, f"the {who.role} role may only see {who.role} tasks")
    changes = db.exec(
        select(StaffTaskStatusChange)
        .where(StaffTaskStatusChange.task_id == task.id)
        .order_by(col(StaffTaskStatusChange.at), col(StaffTaskStatusChange.id))
    )
    sent = db.exec(
        select(PathwayEvent)
        .where(
            PathwayEvent.enrollment_id == task.enrollment_id,
            col(PathwayEvent.type).in_(("task_completed", "task_skipped")),
        )
        .order_by(col(PathwayEvent.id))
    )
    mine = [event for event in sent if event.data.get("task") == task.engine_task]
    patient = db.exec(select(Enrollment.patient_id).where(Enrollment.id == task.enrollment_id))
    with_data = view.shows_on_task(patient.one(), task.role)
    events = [event_out(event, with_data=with_data) for event in mine]
    history = [
        StatusChangeOut(status=c.status, at=c.at, actor=c.actor, reason=c.reason) for c in changes
    ]
    return TaskDetail.model_validate(
        {
            **_public(task, now),
            "form": [_form_field(field) for field in task_form(db, task)],
            "recorded": task.recorded if with_data else None,  # values recorded are PHI
            "history": history,
            "events": events,
        }
    )


def _form_field(field: Declared) -> FormField:
    return FormField(
        name=field.name,
        type=field.type,
        required=field.required,
        enum=list(field.enum),
        minimum=field.minimum,
        maximum=field.maximum,
        unit=field.unit,
        description=field.description,
    )


@router.post("/{task_id}/claim")
def claim(
    task_id: str, who: Worker, db: SessionDep, service: ServiceDep, body: ClaimIn | None = None
) -> TaskOut:
    """Take a ready task: it becomes in-progress with an assignee (staff claim for themselves)."""
    assignee = (body.assignee if body else None) or who.actor
    _check_works(who, _role_of(db, task_id))
    if assignee != who.actor and who.role not in ("admin", "navigator"):
        raise HTTPException(
            403, "staff claim tasks for themselves; a navigator reassigns work to others"
        )
    task = service.handle(ClaimTask(task_id=task_id, assignee=assignee, actor=who.actor))
    return TaskOut.model_validate(_public(task, service.clock()))


@router.post("/{task_id}/complete", status_code=202)
def complete(
    task_id: str, body: CompletionIn, who: Worker, db: SessionDep, service: ServiceDep
) -> EventAccepted:
    """Record the task done with its values; a worker applies them (outcome: GET /tasks/{id})."""
    _check_works(who, _role_of(db, task_id))
    command = CompleteTask(
        task_id=task_id, data=body.data, idempotency_key=body.idempotency_key, actor=who.actor
    )
    return EventAccepted.of(service.handle(command))


@router.post("/{task_id}/skip", status_code=202)
def skip(
    task_id: str, body: SkipIn, who: Worker, db: SessionDep, service: ServiceDep
) -> EventAccepted:
    """Record that the task is skipped, and why; a worker applies it."""
    _check_works(who, _role_of(db, task_id))
    return EventAccepted.of(
        service.handle(SkipTask(task_id=task_id, reason=body.reason, actor=who.actor))
    )


@router.post("/{task_id}/reassign")
def reassign(task_id: str, body: ReassignIn, who: Navigator, service: ServiceDep) -> TaskOut:
    """Give the task to someone else, or back to its role's queue (assignee null)."""
    command = ReassignTask(
        task_id=task_id, assignee=body.assignee, reason=body.reason, actor=who.actor
    )
    task = service.handle(command)
    return TaskOut.model_validate(_public(task, service.clock()))
