"""Rebuild an enrollment's state from its event log and compare it with the stored one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from pathways.runtime.engine import start, step
from pathways.runtime.events import Enrolled
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
    """Apply the enrollment's applied events, in the order they were applied, from enrolment."""
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
    for event in log[1:]:
        assert event.applied_at is not None
        state, _ = step(definition, state, engine_event(event.type, event.data), event.applied_at)
    return ReplayResult(enrollment.id, len(log), tuple(differences(enrollment.state, state)))


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
