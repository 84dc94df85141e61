"""The course projection of an enrollment, refreshed outside the lock that applies events.

Applying an event writes what it changes at once (status, steps done, next due, phase, the
overdue and on-hold flags). Projecting the rest of the course (steps expected, projected
end, and so whether the enrollment is at risk) simulates it to its end, which is too slow
to do under the enrollment's lock for every event; it is done here, after the commit, with
an optimistic version check: a projection of a state that changed meanwhile is not written.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from pathways.runtime.progress import progress
from pathways.store.changes import record_enrollment_change
from pathways.store.definitions import pinned
from pathways.store.tables import Enrollment
from pathways.store.unit_of_work import SqlAlchemyUnitOfWork


def stale_projections(session: Session, limit: int = 200) -> list[str]:
    """Enrollments whose projection is older than their state (ix_enrollment_projection_stale)."""
    query = (
        select(Enrollment.id)
        .where(col(Enrollment.projected_version) < col(Enrollment.version))
        .limit(limit)
    )
    return list(session.exec(query))


def refresh_projection(uow: SqlAlchemyUnitOfWork, enrollment_id: str, now: datetime) -> bool:
    """Project one enrollment's course and store it, unless its state moved on."""
    session = uow.session
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.projected_version >= enrollment.version:
        return False
    report = progress(pinned(session, enrollment), enrollment.state, now)
    written = session.execute(
        update(Enrollment)
        .where(col(Enrollment.id) == enrollment.id, col(Enrollment.version) == enrollment.version)
        .values(
            steps_expected=report.expected,
            projected_end=report.projected_end,
            flag=report.flag,
            projected_version=enrollment.version,
        )
        .execution_options(synchronize_session=False)
    )
    if written.rowcount != 1:  # type: ignore[attr-defined]
        return False  # a newer state arrived: its own refresh will project it
    if report.flag != enrollment.flag:
        set_committed_value(enrollment, "flag", report.flag)  # the UPDATE above wrote it
        record_enrollment_change(session, enrollment, now)
    return True
