"""/dashboard: the navigation figures on one page (ids and codes only, no PHI).

Enrollments by pathway, status and flag; overdue tasks by role; days from enrolment to first
treatment (median and 90th percentile); the on-time rate; and the agenda of the next tumour
board. The figures are read from the summary the summary sweep stores (pathways/store/
summary.py), one row, so a request scans nothing; `as_of` says how old they are. Before the
sweep has ever run they are computed for the request (and not stored: a GET writes nothing),
and `source` says "live".
"""

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from api.deps import NowDep, Reader, SessionDep
from api.etag import if_unchanged, tag, validator
from pathways.store.summary import compute_summary, stored_summary, summary_computed_at

router = APIRouter(prefix="/dashboard", tags=["dashboard"])


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
    """The navigation figures, the board agenda included, as of `as_of`."""

    as_of: datetime
    source: Literal["summary", "live"]
    counts: list[StatusCount]
    overdue_tasks_by_role: list[RoleOverdue]
    days_to_first_treatment: FirstTreatment
    on_time: OnTime
    next_tumour_board: BoardAgenda | None


@router.get("")
def dashboard(
    who: Reader, db: SessionDep, now: NowDep, request: Request, response: Response
) -> Dashboard:
    """The stored figures (computed now if none are stored yet), as of `as_of`.

    A poll whose If-None-Match names the stored summary is answered 304 from its
    `computed_at` alone: the figures are neither read nor rendered."""
    if "if-none-match" in request.headers and (at := summary_computed_at(db)) is not None:
        if_unchanged(request, _tag(at))
    summary = stored_summary(db)
    source: Literal["summary", "live"] = "summary"
    if summary is None:  # the summary sweep has not run yet: count once, store nothing
        summary, source = compute_summary(db, now), "live"
    else:
        tag(response, _tag(summary.computed_at))
    figures = summary.figures
    return Dashboard(
        as_of=summary.computed_at,
        source=source,
        counts=figures["counts"],
        overdue_tasks_by_role=figures["overdue_tasks_by_role"],
        days_to_first_treatment=figures["days_to_first_treatment"],
        on_time=figures["on_time"],
        next_tumour_board=figures.get("next_tumour_board"),
    )


def _tag(computed_at: datetime) -> str:
    """The same figures for every reader (no PHI): the summary's moment names them."""
    return validator("dashboard", computed_at.isoformat())
