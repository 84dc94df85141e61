"""/enrollments: enrol, list (keyset pages), read with progress, and post events (202).

Events are stored, then applied by a worker after the commit; the engine decides whether
each applies, so a 202 means "accepted for the worker", never "applied".
"""

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from api.accepted import EventAccepted
from api.cursors import decoded, encoded
from api.deps import Navigator, NowDep, PatientViewDep, Reader, ServiceDep, SessionDep
from api.etag import if_unchanged, tag, validator
from api.security import Permission
from pathways.runtime.progress import standing
from pathways.runtime.simulation import TimelineRow, project
from pathways.service.commands import Enrol, RecordEvent
from pathways.service.enrolment import IdempotencyConflict
from pathways.store.definitions import pinned
from pathways.store.enrollments import NotFound
from pathways.store.tables import (
    OPEN_TASK_STATUSES,
    Enrollment,
    PathwayDefinition,
    Patient,
    StaffTask,
)

router = APIRouter(prefix="/enrollments", tags=["enrollments"])

Key = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
Status = Literal["active", "on_hold", "completed", "stopped", "withdrawn"]
Flag = Literal["on_track", "at_risk", "overdue", "on_hold", "completed"]


class EnrollmentCreate(BaseModel):
    """A patient to enrol on a pathway (its latest version unless one is named)."""

    model_config = ConfigDict(extra="forbid")
    patient_id: str = Field(min_length=1, max_length=36)
    pathway: str = Field(min_length=1, max_length=100)
    version: int | None = Field(default=None, ge=1, le=2_147_483_647)  # the column's range
    parameters: dict[str, Any] = Field(default_factory=dict)
    patient: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: Key


class EventIn(BaseModel):
    """An event for an enrollment: its type, data and the caller's idempotency key.

    Types: hold, resume, withdraw, data_recorded, lab_result, imaging_result, adverse_event,
    or one the pathway declares under `events:`; data as the pathway declares it."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=60)
    data: dict[str, Any] = Field(default_factory=dict)
    idempotency_key: Key


class ReasonIn(BaseModel):
    """Why a navigator holds, resumes or withdraws an enrollment."""

    model_config = ConfigDict(extra="forbid")
    reason: Reason
    idempotency_key: Key


class PatientBrief(BaseModel):
    """Who the patient is, for roles that may see patients (null for a read-only dashboard)."""

    mrn: str
    display_name: str


class EnrollmentSummary(BaseModel):
    """One line of the enrollment list (stored columns only: no engine work per row)."""

    id: str
    patient_id: str
    patient: PatientBrief | None = None
    pathway: str
    version: int
    status: str
    flag: str
    phase: str | None
    steps_done: int
    steps_expected: int
    next_due_at: datetime | None
    enrolled_at: datetime
    updated_at: datetime


class EnrollmentPage(BaseModel):
    """A page of enrollments; pass `next_cursor` back as `cursor` for the next (null: last)."""

    items: list[EnrollmentSummary]
    next_cursor: str | None


class CurrentStep(BaseModel):
    """An open step: a task for staff (with the staff task's id), a wait, or a stuck step."""

    step: str
    kind: str  # task, wait, stuck
    pathway: str
    ready: datetime
    due: datetime | None
    task: str | None = None  # the engine's id of the task within the enrollment
    staff_task_id: str | None = None  # what POST /tasks/{id}/complete takes


class ProgressPublic(BaseModel):
    """Steps done of those expected, what is open, and the projected and planned ends.

    From the enrollment row as the write path and the projection sweep keep it: `expected`
    and `projected_end` are those of the latest projection."""

    done: int
    expected: int
    phase: str | None
    next_due: datetime | None
    projected_end: datetime | None
    planned_end: datetime | None
    current: list[CurrentStep]


class EnrollmentDetail(BaseModel):
    """An enrollment with its progress now; its projected timeline when asked for."""

    id: str
    patient_id: str
    patient: PatientBrief | None = None
    pathway: str
    version: int
    status: str
    outcome: str | None
    flag: str
    enrolled_at: datetime
    updated_at: datetime
    parameters: dict[str, Any]
    progress: ProgressPublic
    history: list[TimelineRow]  # staff tasks ended so far, oldest first, from the store
    # The engine's projection from now on: only with ?include=timeline (null otherwise).
    timeline: list[TimelineRow] | None = None


@router.post("", status_code=201)
def create_enrollment(
    body: EnrollmentCreate, who: Navigator, service: ServiceDep, db: SessionDep, response: Response
) -> EnrollmentDetail:
    """Enrol a patient (201); the same idempotency key again gives that enrollment (200)."""
    command = Enrol(
        patient_id=body.patient_id,
        pathway=body.pathway,
        version=body.version,
        parameters=body.parameters,
        patient=body.patient,
        idempotency_key=body.idempotency_key,
        actor=who.actor,
    )
    try:
        enrolled = service.handle(command)
    except IdempotencyConflict as conflict:
        raise HTTPException(409, str(conflict)) from None
    if not enrolled.created:
        response.status_code = 200
    response.headers["Location"] = f"/enrollments/{enrolled.enrollment.id}"
    return _detail(db, enrolled.enrollment, service.clock().replace(second=0, microsecond=0))


@router.get("")
def list_enrollments(
    who: Reader,
    db: SessionDep,
    view: PatientViewDep,
    pathway: Annotated[str | None, Query(max_length=100)] = None,
    patient: Annotated[str | None, Query(min_length=1, max_length=36, description="id")] = None,
    status: Status | None = None,
    flag: Flag | None = None,
    role: Annotated[str | None, Query(max_length=60, description="with an open task")] = None,
    search: Annotated[str | None, Query(alias="text", min_length=1, max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> EnrollmentPage:
    """Enrollments, soonest due first; `text` matches patients only for navigators and admins."""
    query = select(Enrollment)
    if patient is not None:
        query = query.where(Enrollment.patient_id == patient)
    if pathway is not None:
        query = query.where(Enrollment.pathway == pathway)
    if status is not None:
        query = query.where(Enrollment.status == status)
    if flag is not None:
        query = query.where(Enrollment.flag == flag)
    if role is not None:
        query = query.where(
            exists().where(
                col(StaffTask.enrollment_id) == col(Enrollment.id),
                col(StaffTask.role) == role,
                col(StaffTask.status).in_(OPEN_TASK_STATUSES),
            )
        )
    if search is not None:
        query = query.join(PathwayDefinition, col(PathwayDefinition.id) == Enrollment.definition_id)
        matches = [col(Enrollment.pathway), col(PathwayDefinition.title)]
        # Only roles that manage patients may find enrollments by who the patient is.
        if who.may(Permission.NAVIGATE):
            query = query.join(Patient, col(Patient.id) == Enrollment.patient_id)
            matches += [col(Patient.mrn), col(Patient.display_name)]
        query = query.where(or_(*(m.icontains(search, autoescape=True) for m in matches)))
    due_at, last_id = col(Enrollment.next_due_at), col(Enrollment.id)
    if cursor is not None:
        due, after = _decoded(cursor)
        if due is None:
            query = query.where(due_at.is_(None), last_id > after)
        else:
            query = query.where(
                or_(due_at.is_(None), due_at > due, and_(due_at == due, last_id > after))
            )
    rows = list(db.exec(query.order_by(due_at.is_(None), due_at, last_id).limit(limit + 1)))
    items = [_summary(row) for row in rows[:limit]]
    _name_patients(db, items, view.reveal(item.patient_id for item in items))
    more = len(rows) > limit
    return EnrollmentPage(items=items, next_cursor=_encoded(rows[limit - 1]) if more else None)


def _encoded(row: Enrollment) -> str:
    return encoded({"due": row.next_due_at, "id": row.id})


def _decoded(cursor: str) -> tuple[datetime | None, str]:
    position = decoded(cursor, {"due": "time?", "id": "text"})
    return position["due"], position["id"]


def _name_patients(db: Session, items: list[EnrollmentSummary], ids: set[str]) -> None:
    """Fill in who each patient of `ids` is, with one query for the page."""
    if not ids:
        return
    found = db.exec(select(Patient).where(col(Patient.id).in_(sorted(ids))))
    named = {p.id: PatientBrief(mrn=p.mrn, display_name=p.display_name) for p in found}
    for item in items:
        item.patient = named.get(item.patient_id)


def _summary(row: Enrollment) -> EnrollmentSummary:
    return EnrollmentSummary(
        id=row.id,
        patient_id=row.patient_id,
        pathway=row.pathway,
        version=row.pathway_version,
        status=row.status,
        flag=row.flag,
        phase=row.phase,
        steps_done=row.steps_done,
        steps_expected=row.steps_expected,
        next_due_at=row.next_due_at,
        enrolled_at=row.enrolled_at,
        updated_at=row.updated_at,
    )


Include = Literal["timeline"]


@router.get("/{enrollment_id}")
def read_enrollment(
    enrollment_id: str,
    who: Reader,
    db: SessionDep,
    view: PatientViewDep,
    now: NowDep,
    request: Request,
    response: Response,
    include: Annotated[list[Include], Query(description="timeline: the projection")] = [],  # noqa: B006
) -> EnrollmentDetail:
    """One enrollment: its progress now from the stored columns; the projection on request.

    A poll whose If-None-Match still holds is answered 304 from the enrollment's write
    version alone, before the row is loaded (api/etag.py)."""
    # Time enters the answer only through a held step's due date (as if resumed now) and the
    # projection, both as of the current minute: a body made from the exact instant would
    # differ at every poll and no tag would ever match.
    minute = now.replace(second=0, microsecond=0)
    if "if-none-match" in request.headers:  # a poll: first ask whether anything changed
        probe = select(Enrollment.version, Enrollment.status).where(Enrollment.id == enrollment_id)
        found = db.exec(probe).first()
        if found is not None:
            if_unchanged(request, _tag(enrollment_id, *found, who.role, include, minute))
    enrollment = db.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    detail = _detail(db, enrollment, minute, with_timeline="timeline" in include)
    patient = db.get(Patient, enrollment.patient_id) if view.shows(enrollment.patient_id) else None
    if patient is not None:
        detail.patient = PatientBrief(mrn=patient.mrn, display_name=patient.display_name)
    loaded = (enrollment.version, enrollment.status)  # a write may have landed since the probe
    tag(response, _tag(enrollment.id, *loaded, who.role, include, minute))
    return detail


def _tag(
    enrollment_id: str,
    version: int,
    status: str,
    role: str,
    include: list[Include],
    minute: datetime,
) -> str:
    """What identifies an answer: the write version, the caller's role (what it may see), what
    was included, and the minute only where time shows (a held step's due, the projection)."""
    timed = status == "on_hold" or bool(include)
    return validator("enrollment", enrollment_id, version, role, sorted(include), timed and minute)


def _detail(
    session: Session, enrollment: Enrollment, now: datetime, with_timeline: bool = False
) -> EnrollmentDetail:
    """The enrollment from its stored columns, its open steps from its state (no projection)."""
    definition = pinned(session, enrollment)
    now_standing = standing(definition, enrollment.state, now)
    tasks = session.exec(  # the columns these need only: no instructions or recorded values
        select(*TASK_COLUMNS)
        .where(StaffTask.enrollment_id == enrollment.id)
        .order_by(col(StaffTask.updated_at), col(StaffTask.id))
    ).all()
    staff_ids = {t.engine_task: t.id for t in tasks if t.status in OPEN_TASK_STATUSES}
    timeline = project(definition, enrollment.state, now).rows if with_timeline else None
    return EnrollmentDetail(
        id=enrollment.id,
        patient_id=enrollment.patient_id,
        pathway=enrollment.pathway,
        version=enrollment.pathway_version,
        status=enrollment.status,
        outcome=enrollment.outcome,
        flag=enrollment.flag,
        enrolled_at=enrollment.enrolled_at,
        updated_at=enrollment.updated_at,
        parameters=enrollment.parameters,
        progress=ProgressPublic(
            done=enrollment.steps_done,
            expected=enrollment.steps_expected,
            phase=enrollment.phase,
            next_due=enrollment.next_due_at,
            projected_end=enrollment.projected_end,
            planned_end=now_standing.planned_end,
            current=[
                CurrentStep(**asdict(step), staff_task_id=staff_ids.get(step.task or ""))
                for step in now_standing.current
            ],
        ),
        history=[_ended(task) for task in tasks if task.status in ("completed", "cancelled")],
        timeline=timeline,
    )


TASK_COLUMNS = tuple(
    col(getattr(StaffTask, name))
    for name in (
        "id",
        "engine_task",
        "step",
        "title",
        "role",
        "pathway",
        "status",
        "status_reason",
        "due_at",
        "created_at",
        "updated_at",
    )
)


def _ending(task: Any) -> str:
    if task.status == "completed":
        return "completed"
    return "skipped" if (task.status_reason or "").startswith("skipped") else "cancelled"


def _ended(task: Any) -> TimelineRow:
    """A finished staff task as a timeline row (the state keeps no history)."""
    return TimelineRow(
        step=task.step,
        title=task.title,
        role=task.role,
        kind="task",
        pathway=task.pathway,
        ready=task.created_at,
        due=task.due_at,
        done=task.updated_at,
        ended=_ending(task),
    )


@router.post("/{enrollment_id}/events", status_code=202)
def post_event(
    enrollment_id: str, event: EventIn, who: Navigator, service: ServiceDep
) -> EventAccepted:
    """Store an event (once per idempotency key) and have a worker apply it."""
    return _accept(service, enrollment_id, event.type, event.data, event, who.actor)


@router.post("/{enrollment_id}/hold", status_code=202)
def hold(enrollment_id: str, body: ReasonIn, who: Navigator, service: ServiceDep) -> EventAccepted:
    """Hold an enrollment; the worker rejects a second navigator hold (status unchanged)."""
    return _accept(service, enrollment_id, "hold", {"reason": body.reason}, body, who.actor)


@router.post("/{enrollment_id}/resume", status_code=202)
def resume(
    enrollment_id: str, body: ReasonIn, who: Navigator, service: ServiceDep
) -> EventAccepted:
    """Lift holds; the worker rejects it when not on hold or a clinical review hold is open."""
    return _accept(service, enrollment_id, "resume", {"reason": body.reason}, body, who.actor)


@router.post("/{enrollment_id}/withdraw", status_code=202)
def withdraw(
    enrollment_id: str, body: ReasonIn, who: Navigator, service: ServiceDep
) -> EventAccepted:
    """Withdraw the patient; the worker rejects it when the enrollment has already ended."""
    return _accept(service, enrollment_id, "withdraw", {"reason": body.reason}, body, who.actor)


def _accept(
    service: ServiceDep,
    enrollment_id: str,
    event_type: str,
    data: dict[str, Any],
    body: EventIn | ReasonIn,
    actor: str,
) -> EventAccepted:
    key = body.idempotency_key
    accepted = service.handle(
        RecordEvent(
            enrollment_id=enrollment_id,
            type=event_type,
            data=data,
            idempotency_key=key,
            actor=actor,
        )
    )
    if accepted.event.type != event_type:  # an earlier event under this key, of another kind
        raise HTTPException(
            409,
            f"idempotency key '{key}' was used for a {accepted.event.type} event "
            f"of this enrollment: send a new key for a {event_type}",
        )
    return EventAccepted.of(accepted)
