"""/dashboard: the navigation figures on one page (ids and codes only, no PHI).

Enrollments by pathway, status and flag; overdue tasks by role; the median days from
enrolment to first treatment; and the agenda of the next tumour board.
"""

import statistics
from collections.abc import Iterator
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from api.deps import NowDep, Reader, SessionDep
from pathways.model import Wait
from pathways.runtime.definition import Definition
from pathways.store.definitions import compiled
from pathways.store.tables import Enrollment, PathwayDefinition, StaffTask, Timer

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

# The steps that are a patient's first treatment, by pathway: the first of them completed
# ends "days to first treatment". Kept here until the pathway language can mark a step as
# treatment itself (a future `treatment: true` key); sub-pathways count under their own id,
# so a multimodality plan's first operation or infusion counts too.
FIRST_TREATMENT_STEPS: dict[str, frozenset[str]] = {
    "chemotherapy": frozenset({"infusion"}),
    "surgery": frozenset({"operation"}),
    "radiation_conventional": frozenset({"deliver_fraction"}),
    "radiation_sbrt": frozenset({"deliver_fraction"}),
}
BOARD_PATHWAY = "tumour_board"  # whose calendar holds the board slot
BOARD_SLOT = "tumour_board"
OVERDUE_STATUSES = ("ready", "in-progress")  # on-hold tasks are paused, not late


class StatusCount(BaseModel):
    """How many enrollments of a pathway have this status and flag."""

    pathway: str
    status: str
    flag: str
    enrollments: int


class RoleOverdue(BaseModel):
    """How many open tasks of a role are past due."""

    role: str
    tasks: int


class FirstTreatment(BaseModel):
    """Median days from enrolment to the first treatment step completed, over `enrollments`."""

    median: float | None
    enrollments: int


class BoardCase(BaseModel):
    """An enrollment waiting for the meeting."""

    enrollment_id: str
    pathway: str


class BoardAgenda(BaseModel):
    """The next tumour board meeting and the enrollments waiting for it."""

    meets_at: datetime
    enrollments: list[BoardCase]


class Dashboard(BaseModel):
    """The navigation figures now."""

    counts: list[StatusCount]
    overdue_tasks_by_role: list[RoleOverdue]
    days_to_first_treatment: FirstTreatment
    next_tumour_board: BoardAgenda | None


@router.get("")
def dashboard(who: Reader, db: SessionDep, now: NowDep) -> Dashboard:
    """Counts, overdue work, days to first treatment and the next board's agenda."""
    return Dashboard(
        counts=_counts(db),
        overdue_tasks_by_role=_overdue(db, now),
        days_to_first_treatment=_first_treatment(db),
        next_tumour_board=_board(db, now),
    )


def _counts(db: Session) -> list[StatusCount]:
    pathway, status, flag = col(Enrollment.pathway), col(Enrollment.status), col(Enrollment.flag)
    rows = db.exec(
        select(pathway, status, flag, func.count())
        .group_by(pathway, status, flag)
        .order_by(pathway, status, flag)
    )
    return [StatusCount(pathway=p, status=s, flag=f, enrollments=n) for p, s, f, n in rows]


def _overdue(db: Session, now: datetime) -> list[RoleOverdue]:
    role = col(StaffTask.role)
    rows = db.exec(
        select(role, func.count())
        .where(col(StaffTask.status).in_(OVERDUE_STATUSES), col(StaffTask.due_at) < now)
        .group_by(role)
        .order_by(role)
    )
    return [RoleOverdue(role=r, tasks=n) for r, n in rows]


def _first_treatment(db: Session) -> FirstTreatment:
    task_pathway, step = col(StaffTask.pathway), col(StaffTask.step)  # pathway: "id@version"
    treatment = or_(
        *(
            and_(task_pathway.startswith(f"{name}@", autoescape=True), step.in_(sorted(ids)))
            for name, ids in FIRST_TREATMENT_STEPS.items()
        )
    )
    enrolled_at = col(Enrollment.enrolled_at)
    rows = db.exec(
        select(  # a completed task changes no more: its updated_at is when it was completed
            col(StaffTask.enrollment_id), func.min(col(StaffTask.updated_at)), enrolled_at
        )
        .join(Enrollment, col(Enrollment.id) == col(StaffTask.enrollment_id))
        .where(col(StaffTask.status) == "completed", treatment)
        .group_by(col(StaffTask.enrollment_id), enrolled_at)
    )
    days = [(treated - enrolled).total_seconds() / 86400 for _, treated, enrolled in rows]
    median = round(statistics.median(days), 3) if days else None
    return FirstTreatment(median=median, enrollments=len(days))


def _board(db: Session, now: datetime) -> BoardAgenda | None:
    rows = list(db.exec(select(PathwayDefinition).where(PathwayDefinition.kind == "pathway")))
    board = [row for row in rows if row.pathway == BOARD_PATHWAY]
    if not board:
        return None
    calendar = compiled(db, max(board, key=lambda row: row.version)).calendar
    slot = calendar.definition.slots.get(BOARD_SLOT)
    if slot is None:
        return None
    meets_at = calendar.next_slot(now, slot)
    # The agenda is read off the pending board timers (indexed by due time), never by loading
    # every enrollment's state: a board wait's timer falls due when the meeting starts.
    waits = [
        and_(col(Enrollment.definition_id) == row.id, col(Timer.step).in_(steps))
        for row in rows
        if (steps := sorted(set(_board_waits(compiled(db, row)))))
    ]
    if not waits:
        return BoardAgenda(meets_at=meets_at, enrollments=[])
    query = (
        select(Enrollment.id, Enrollment.pathway)
        .join(Timer, col(Timer.enrollment_id) == col(Enrollment.id))
        .where(
            col(Timer.fired_at).is_(None),
            col(Timer.cancelled_at).is_(None),
            col(Timer.due_at) == meets_at,
            col(Enrollment.status) == "active",
            or_(*waits),
        )
        .order_by(col(Enrollment.enrolled_at), col(Enrollment.id))
    )
    cases = [BoardCase(enrollment_id=e, pathway=p) for e, p in db.exec(query)]
    return BoardAgenda(meets_at=meets_at, enrollments=cases)


def _board_waits(definition: Definition) -> Iterator[str]:
    """The ids of board waits in a definition and the sub-pathways it calls."""
    for step_id, step in definition.steps.items():
        if isinstance(step, Wait) and step.until == BOARD_SLOT:
            yield step_id
    for callee in definition.callees.values():
        yield from _board_waits(callee)
