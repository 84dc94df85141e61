"""Rebuild an enrollment's state from its event log and compare it with the stored one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from pathways.runtime.engine import start, step
from pathways.runtime.events import Enrolled, EventRejected
from pathways.runtime.simulation import planned_end
from pathways.runtime.state import iso
from pathways.store.definitions import pinned
from pathways.store.events import ENROLLED, engine_event
from pathways.store.tables import Enrollment, PathwayEvent


@dataclass(frozen=True)
class ReplayResult:
    """Whether the log reproduces the stored state, and where they differ."""

    enrollment_id: str
    events: int
    differences: tuple[str, ...]

    @property
    def matches(self) -> bool:
        """True when replaying gives exactly the stored state."""
        return not self.differences


def replay(session: Session, enrollment: Enrollment) -> ReplayResult:
    """Apply the enrollment's applied events, in the order they were applied, from enrolment.

    The applied order must also be the recording order (event ids): a difference names any
    event applied after an event recorded later."""
    definition = pinned(session, enrollment)
    log = list(
        session.exec(
            select(PathwayEvent)
            .where(
                PathwayEvent.enrollment_id == enrollment.id,
                col(PathwayEvent.applied_seq).is_not(None),
            )
            .order_by(col(PathwayEvent.applied_seq))
        )
    )
    first = log[0]
    assert first.type == ENROLLED and first.applied_at is not None
    state, _ = start(
        definition, Enrolled(first.data["parameters"], first.data["patient"]), first.applied_at
    )
    state["planned_end"] = iso(planned_end(definition, state, first.applied_at))  # as enrol does
    found = out_of_order([event.id for event in log if event.id is not None])
    for event in log[1:]:
        assert event.applied_at is not None
        try:
            state, _ = step(
                definition, state, engine_event(event.type, event.data), event.applied_at
            )
        except EventRejected as rejected:
            found.append(f"event {event.id} was applied, but replay rejects it: {rejected.reason}")
    found.extend(differences(enrollment.state, state))
    return ReplayResult(enrollment.id, len(log), tuple(found))


def out_of_order(applied: list[int]) -> list[str]:
    """Events applied before an event recorded earlier (ids in applied order)."""
    found = []
    latest = 0
    for event_id in applied:
        if event_id < latest:
            found.append(f"order: event {event_id} was applied after the later event {latest}")
        latest = max(latest, event_id)
    return found


def differences(stored: Any, replayed: Any, path: str = "$") -> list[str]:
    """Where two JSON values differ, as JSON paths with both values."""
    if isinstance(stored, dict) and isinstance(replayed, dict):
        found = []
        for key in sorted(set(stored) | set(replayed)):
            if key not in stored or key not in replayed:
                found.append(
                    f"{path}.{key}: stored {stored.get(key)!r}, replayed {replayed.get(key)!r}"
                )
            else:
                found.extend(differences(stored[key], replayed[key], f"{path}.{key}"))
        return found
    if isinstance(stored, list) and isinstance(replayed, list) and len(stored) == len(replayed):
        return [
            d
            for index, (a, b) in enumerate(zip(stored, replayed, strict=True))
            for d in differences(a, b, f"{path}[{index}]")
        ]
    return [] if stored == replayed else [f"{path}: stored {stored!r}, replayed {replayed!r}"]
