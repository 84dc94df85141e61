"""The dashboard's figures, computed by a sweep and stored, so that reading them scans nothing.

Counting enrollments by pathway, status and flag, overdue tasks by role, the days from
enrolment to first treatment and the on-time rate costs whole-table aggregates (the next
board's agenda, pathways/store/board.py, is stored with them): at 100k
enrollments and 1M tasks, seconds per request under load. The summary sweep computes them
here every CAREPATH_DASHBOARD_SUMMARY_SECONDS into one `dashboard_summary` row; GET /dashboard
reads that row and says how old it is.

Days to first treatment read `enrollment.first_treatment_at` (written with the state by the
apply path), one column: the median and the 90th percentile are `percentile_cont` on
PostgreSQL and the same interpolation in Python on SQLite, which has no such aggregate.

On time: of the staff tasks completed in the last ON_TIME_DAYS days, the share completed on or
before their due time (a completed task changes no more, so its `updated_at` is when it was
completed). Skipped and cancelled tasks are not counted either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from pathways.store.board import next_board
from pathways.store.tables import DashboardSummary, Enrollment, StaffTask

SCOPE = "clinic"  # the one summary: the whole clinic
OVERDUE_STATUSES = ("ready", "in-progress")  # on-hold tasks are paused, not late
ON_TIME_DAYS = 90
SECONDS_PER_DAY = 86400


@dataclass(frozen=True)
class Summary:
    """The figures and when they were computed (JSON-ready: what the row stores)."""

    computed_at: datetime
    figures: dict[str, Any]


def compute_summary(session: Session, now: datetime) -> Summary:
    """Every figure of the dashboard as the database has them now (read only)."""
    return Summary(
        computed_at=now,
        figures={
            "counts": _counts(session),
            "overdue_tasks_by_role": _overdue(session, now),
            "days_to_first_treatment": _first_treatment(session),
            "on_time": _on_time(session, now),
            "next_tumour_board": next_board(session, now),
        },
    )


def summary_computed_at(session: Session) -> datetime | None:
    """When the stored summary was computed (None: never), without reading its figures."""
    return session.exec(
        select(DashboardSummary.computed_at).where(DashboardSummary.scope == SCOPE)
    ).first()


def stored_summary(session: Session) -> Summary | None:
    """The summary the sweep stored last, or None before it first ran (one primary-key read)."""
    row = session.get(DashboardSummary, SCOPE)
    return None if row is None else Summary(row.computed_at, row.figures)


def save_summary(session: Session, summary: Summary) -> None:
    """Store the summary in place of the last one (an upsert: two sweeps at once both succeed,
    the later write wins). The caller commits."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {"scope": SCOPE, "computed_at": summary.computed_at, "figures": summary.figures}
    statement = insert(DashboardSummary).values(values)
    statement = statement.on_conflict_do_update(
        index_elements=["scope"],
        set_={"computed_at": statement.excluded.computed_at, "figures": statement.excluded.figures},
    )
    session.execute(statement)


def _counts(session: Session) -> list[dict[str, Any]]:
    pathway, status, flag = col(Enrollment.pathway), col(Enrollment.status), col(Enrollment.flag)
    rows = session.exec(
        select(pathway, status, flag, func.count())
        .group_by(pathway, status, flag)
        .order_by(pathway, status, flag)
    )
    return [{"pathway": p, "status": s, "flag": f, "enrollments": n} for p, s, f, n in rows]


def _overdue(session: Session, now: datetime) -> list[dict[str, Any]]:
    role = col(StaffTask.role)
    rows = session.exec(  # ix_task_overdue (status, due_at)
        select(role, func.count())
        .where(col(StaffTask.status).in_(OVERDUE_STATUSES), col(StaffTask.due_at) < now)
        .group_by(role)
        .order_by(role)
    )
    return [{"role": r, "tasks": n} for r, n in rows]


def _first_treatment(session: Session) -> dict[str, Any]:
    treated, enrolled = col(Enrollment.first_treatment_at), col(Enrollment.enrolled_at)
    if session.get_bind().dialect.name == "postgresql":
        days = func.extract("epoch", treated - enrolled) / SECONDS_PER_DAY
        count, median, p90 = session.exec(
            select(
                func.count(),
                func.percentile_cont(0.5).within_group(days),
                func.percentile_cont(0.9).within_group(days),
            ).where(treated.is_not(None))
        ).one()
    else:
        spans = sorted(
            (first - start).total_seconds() / SECONDS_PER_DAY
            for first, start in session.exec(select(treated, enrolled).where(treated.is_not(None)))
            if first is not None
        )
        count, median, p90 = len(spans), percentile(spans, 0.5), percentile(spans, 0.9)
    return {"median": _days(median), "p90": _days(p90), "enrollments": int(count)}


def _on_time(session: Session, now: datetime) -> dict[str, Any]:
    completed_at, due = col(StaffTask.updated_at), col(StaffTask.due_at)
    completed, on_time = session.exec(
        select(func.count(), func.sum(case((completed_at <= due, 1), else_=0))).where(
            col(StaffTask.status) == "completed",
            completed_at >= now - timedelta(days=ON_TIME_DAYS),
        )
    ).one()
    completed, on_time = int(completed), int(on_time or 0)
    return {
        "rate": round(on_time / completed, 3) if completed else None,
        "on_time": on_time,
        "completed": completed,
        "window_days": ON_TIME_DAYS,
    }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The `fraction` percentile of sorted values, interpolated as PostgreSQL's
    percentile_cont does (between the two nearest ranks); None for no values."""
    if not ordered:
        return None
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


def _days(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)
