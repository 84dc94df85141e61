"""The next tumour board meeting and the enrollments waiting for it (ids only, no PHI).

The agenda is read off the pending board timers (indexed by due time), never by loading every
enrollment's state: a board wait's timer falls due when the meeting starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from pathways.model import Wait
from pathways.runtime.definition import Definition
from pathways.store.definitions import compiled
from pathways.store.tables import Enrollment, PathwayDefinition, Timer

BOARD_PATHWAY = "tumour_board"  # whose calendar holds the board slot
BOARD_SLOT = "tumour_board"


def next_board(session: Session, now: datetime) -> dict[str, Any] | None:
    """`{meets_at, enrollments: [{enrollment_id, pathway}]}` for the next meeting after
    `now`, oldest enrolment first; None without a board pathway or slot."""
    rows = list(session.exec(select(PathwayDefinition).where(PathwayDefinition.kind == "pathway")))
    board = [row for row in rows if row.pathway == BOARD_PATHWAY]
    if not board:
        return None
    calendar = compiled(session, max(board, key=lambda row: row.version)).calendar
    slot = calendar.definition.slots.get(BOARD_SLOT)
    if slot is None:
        return None
    meets_at = calendar.next_slot(now, slot)
    waits = [
        and_(col(Enrollment.definition_id) == row.id, col(Timer.step).in_(steps))
        for row in rows
        if (steps := sorted(set(_board_waits(compiled(session, row)))))
    ]
    cases: list[dict[str, str]] = []
    if waits:
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
        cases = [{"enrollment_id": e, "pathway": p} for e, p in session.exec(query)]
    return {"meets_at": meets_at.isoformat(), "enrollments": cases}


def _board_waits(definition: Definition) -> Iterator[str]:
    """The ids of board waits in a definition and the sub-pathways it calls."""
    for step_id, step in definition.steps.items():
        if isinstance(step, Wait) and step.until == BOARD_SLOT:
            yield step_id
    for callee in definition.callees.values():
        yield from _board_waits(callee)
