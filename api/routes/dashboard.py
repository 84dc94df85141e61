"""/dashboard: the navigation figures on one page (ids and codes only, no PHI).

Enrollments by pathway, status and flag; overdue tasks by role; days from enrolment to first
treatment (median and 90th percentile); the on-time rate; and the agenda of the next tumour
board. The figures are read from the summary the summary sweep stores (pathways/store/
summary.py), one row, so a request scans nothing; `as_of` and `age_seconds` say how old they
are. Before the sweep has ever run they are computed for the request (and not stored: a GET
writes nothing), and `source` says "live".
"""

from collections.abc import Iterator
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from api.deps import NowDep, Reader, SessionDep
from pathways.model import Wait
from pathways.runtime.definition import Definition
from pathways.store.definitions import compiled
from pathways.store.summary import compute_summary, stored_summary
from pathways.store.tables import Enrollment, PathwayDefinition, Timer

router = APIRouter(prefix="/dashboard", tags=["dashboard"])

BOARD_PATHWAY = "tumour_board"  # whose calendar holds the board slot
BOARD_SLOT = "tumour_board"


class StatusCount(BaseModel):
    """How many enrollments of a pathway have this status and flag."""

    pathway: str
    status: str
    flag: str
    enrollments: int


class RoleOverdue(BaseModel):
    """How many open (ready or in-progress) tasks of a role are past due."""

    role: str
    tasks: int


class FirstTreatment(BaseModel):
    """Days from enrolment to the first step marked `treatment: true` completed, over the
    `enrollments` treated so far: the median and the 90th percentile."""

    median: float | None
    p90: float | None
    enrollments: int


class OnTime(BaseModel):
    """Of the staff tasks completed in the last `window_days` days (`completed`), how many
    were completed on or before their due time (`on_time`), and the share (`rate`)."""

    rate: float | None
    on_time: int
    completed: int
    window_days: int


class BoardCase(BaseModel):
    """An enrollment waiting for the meeting."""

    enrollment_id: str
    pathway: str


class BoardAgenda(BaseModel):
    """The next tumour board meeting and the enrollments waiting for it."""

    meets_at: datetime
    enrollments: list[BoardCase]


class Dashboard(BaseModel):
    """The navigation figures as of `as_of` (the board agenda: now)."""

    as_of: datetime
    age_seconds: float
    source: Literal["summary", "live"]
    counts: list[StatusCount]
    overdue_tasks_by_role: list[RoleOverdue]
    days_to_first_treatment: FirstTreatment
    on_time: OnTime
    next_tumour_board: BoardAgenda | None


@router.get("")
def dashboard(who: Reader, db: SessionDep, now: NowDep) -> Dashboard:
    """The stored figures with their age (computed now if none are stored yet), and the
    next board's agenda."""
    summary = stored_summary(db)
    source: Literal["summary", "live"] = "summary"
    if summary is None:  # the summary sweep has not run yet: count once, store nothing
        summary, source = compute_summary(db, now), "live"
    figures = summary.figures
    return Dashboard(
        as_of=summary.computed_at,
        age_seconds=round(max(0.0, (now - summary.computed_at).total_seconds()), 3),
        source=source,
        counts=figures["counts"],
        overdue_tasks_by_role=figures["overdue_tasks_by_role"],
        days_to_first_treatment=figures["days_to_first_treatment"],
        on_time=figures["on_time"],
        next_tumour_board=_board(db, now),
    )


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
