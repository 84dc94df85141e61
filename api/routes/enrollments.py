"""/enrollments: enrol, list (keyset pages), read with progress, and post events (202).

Events are stored, then applied by a worker after the commit; the engine decides whether
each applies, so a 202 means "accepted for the worker", never "applied".
"""

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import and_, exists, or_
from sqlmodel import Session, col, select

from api.accepted import EventAccepted
from api.cursors import decoded, encoded
from api.deps import Navigator, NowDep, PatientViewDep, Reader, ServiceDep, SessionDep
from api.security import Permission
from pathways.runtime.progress import OpenStep, progress
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


class ProgressPublic(BaseModel):
    """Steps done of those expected, what is open, and the projected and planned ends."""

    done: int
    expected: int
    phase: str | None
    next_due: datetime | None
    projected_end: datetime | None
    planned_end: datetime | None
    current: list[OpenStep]  # the engine's open steps, served as they are


class EnrollmentDetail(BaseModel):
    """An enrollment with its progress now and its projected timeline."""

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
    timeline: list[TimelineRow]  # the engine's projection from now on, served as it is


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
    return _detail(db, enrolled.enrollment, service.clock())


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


@router.get("/{enrollment_id}")
def read_enrollment(
    enrollment_id: str, who: Reader, db: SessionDep, view: PatientViewDep, now: NowDep
) -> EnrollmentDetail:
    """One enrollment: its progress now (flag included) and its projected timeline."""
    enrollment = db.get(Enrollment, enrollment_id)
    if enrollment is None:
        raise NotFound(f"no enrollment {enrollment_id}")
    # As of the current minute: a projection made from the exact instant would differ at every
    # poll for work already late, and no ETag would ever match.
    detail = _detail(db, enrollment, now.replace(second=0, microsecond=0))
    patient = db.get(Patient, enrollment.patient_id) if view.shows(enrollment.patient_id) else None
    if patient is not None:
        detail.patient = PatientBrief(mrn=patient.mrn, display_name=patient.display_name)
    return detail


def _detail(session: Session, enrollment: Enrollment, now: datetime) -> EnrollmentDetail:
    definition = pinned(session, enrollment)
    timeline = project(definition, enrollment.state, now)
    report = progress(definition, enrollment.state, now, timeline)
    return EnrollmentDetail(
        id=enrollment.id,
        patient_id=enrollment.patient_id,
        pathway=enrollment.pathway,
        version=enrollment.pathway_version,
        status=enrollment.status,
        outcome=enrollment.outcome,
        flag=report.flag,
        enrolled_at=enrollment.enrolled_at,
        updated_at=enrollment.updated_at,
        parameters=enrollment.parameters,
        progress=ProgressPublic(
            done=report.done,
            expected=report.expected,
            phase=report.phase,
            next_due=report.next_due,
            projected_end=report.projected_end,
            planned_end=report.planned_end,
            current=list(report.current),
        ),
        history=_ended_tasks(session, enrollment.id),
        timeline=timeline.rows,
    )


def _ending(task: StaffTask) -> str:
    if task.status == "completed":
        return "completed"
    return "skipped" if (task.status_reason or "").startswith("skipped") else "cancelled"


def _ended_tasks(session: Session, enrollment_id: str) -> list[TimelineRow]:
    """The enrollment's finished staff tasks as timeline rows (the state keeps no history)."""
    ended = session.exec(
        select(StaffTask)
        .where(
            StaffTask.enrollment_id == enrollment_id,
            col(StaffTask.status).in_(("completed", "cancelled")),
        )
        .order_by(col(StaffTask.updated_at), col(StaffTask.id))
    )
    return [
        TimelineRow(
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
        for task in ended
    ]


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
